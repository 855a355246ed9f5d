"""Telling a database that is out of connections from one that failed.

Under overload a request can find no connection: the pool's wait runs out (SQLAlchemy's
``TimeoutError``), or PostgreSQL refuses a new one (SQLSTATE 53300, ``too_many_connections``,
asyncpg's ``TooManyConnectionsError``, which SQLAlchemy wraps in a ``DBAPIError``). Both pass
when load drops, so a service answers them 503 with ``Retry-After`` rather than 500.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

TOO_MANY_CONNECTIONS = "53300"

BUSY_ERRORS: tuple[type[Exception], ...] = (PoolTimeout, DBAPIError)
"""The exception types :func:`is_database_busy` may say yes to (for exception handlers)."""


def is_database_busy(exc: BaseException) -> bool:
    """Return True when ``exc`` means no connection was free, not that a query went wrong."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return _sqlstate(exc.orig) == TOO_MANY_CONNECTIONS or _sqlstate(exc.__cause__) == (
            TOO_MANY_CONNECTIONS
        )
    return False


def _sqlstate(error: BaseException | None) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else None
