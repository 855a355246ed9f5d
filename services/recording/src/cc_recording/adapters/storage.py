"""Where recordings live: the local filesystem (the default) or an S3-compatible object store.

Both keep opaque objects by key; the service encrypts before ``put`` and reads ranges back for
playback. Calls that block (file and HTTP I/O) run in worker threads.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]


class StorageError(Exception):
    """The store could not be reached or refused the request; moves are retried later."""


class Storage(Protocol):
    """An object store for encrypted recordings."""

    backend: str

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there."""

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Return bytes ``start..end`` (inclusive; None for the rest) of the object."""

    async def size(self, key: str) -> int | None:
        """Return the object's size, or None when there is none."""

    async def delete(self, key: str) -> None:
        """Remove the object (no error when it is already gone)."""

    async def ping(self) -> None:
        """Raise StorageError when the store cannot be reached."""


class FilesystemStorage:
    """Objects as files under a root directory (a Kubernetes volume in production)."""

    backend = "filesystem"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"key {key!r} leaves the storage root")
        return path

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _get(self, key: str, start: int, end: int | None) -> bytes:
        with self._path(key).open("rb") as handle:
            handle.seek(start)
            return handle.read(-1 if end is None else end - start + 1)

    async def put(self, key: str, data: bytes) -> None:
        """Write atomically (temporary file, fsync, rename)."""
        try:
            await asyncio.to_thread(self._put, key, data)
        except OSError as exc:
            raise StorageError(f"filesystem: {exc}") from exc

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Read a byte range of the file."""
        try:
            return await asyncio.to_thread(self._get, key, start, end)
        except OSError as exc:
            raise StorageError(f"filesystem: {exc}") from exc

    async def size(self, key: str) -> int | None:
        """Return the file size, None when missing."""
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"filesystem: {exc}") from exc

    async def delete(self, key: str) -> None:
        """Remove the file."""
        try:
            await asyncio.to_thread(self._path(key).unlink, True)
        except OSError as exc:
            raise StorageError(f"filesystem: {exc}") from exc

    async def ping(self) -> None:
        """Raise when the root cannot be created or written."""
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageError(f"filesystem: {self.root} is not writable")
        except OSError as exc:
            raise StorageError(f"filesystem: {exc}") from exc


class S3Storage:
    """Objects in a bucket of any S3-compatible store, through boto3."""

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except ClientError:
            raise
        except Exception as exc:  # connection refused, timeouts: the store is away
            raise StorageError(f"s3 {method}: {type(exc).__name__}: {exc}") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet."""
        try:
            await self._call("head_bucket", Bucket=self.bucket)
        except ClientError:
            try:
                await self._call("create_bucket", Bucket=self.bucket)
            except ClientError as exc:
                raise StorageError(f"s3 create_bucket: {exc}") from exc

    async def put(self, key: str, data: bytes) -> None:
        """Upload the object."""
        try:
            await self._call("put_object", Bucket=self.bucket, Key=key, Body=data)
        except ClientError as exc:
            raise StorageError(f"s3 put_object: {exc}") from exc

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Download a byte range."""
        span = f"bytes={start}-{'' if end is None else end}"
        try:
            reply = await self._call("get_object", Bucket=self.bucket, Key=key, Range=span)
            body: bytes = await asyncio.to_thread(reply["Body"].read)
        except ClientError as exc:
            raise StorageError(f"s3 get_object: {exc}") from exc
        return body

    async def size(self, key: str) -> int | None:
        """Return the object's size, None when missing."""
        try:
            head = await self._call("head_object", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise StorageError(f"s3 head_object: {exc}") from exc
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        """Delete the object."""
        try:
            await self._call("delete_object", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise StorageError(f"s3 delete_object: {exc}") from exc

    async def ping(self) -> None:
        """Raise when the bucket cannot be reached."""
        try:
            await self._call("head_bucket", Bucket=self.bucket)
        except ClientError as exc:
            raise StorageError(f"s3 head_bucket: {exc}") from exc
