"""What the routes need from the running app, as typed dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from cc_metrics.core.engine import MetricsEngine
from cc_metrics.settings import MetricsSettings


@dataclass(frozen=True, slots=True)
class Runtime:
    """The service's long-lived objects, built by ``create_app``."""

    settings: MetricsSettings
    engine: MetricsEngine
    clock: Callable[[], datetime]
    staffing_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    """Staffing plans computed at once (each in its own worker process)."""

    @property
    def tenant(self) -> str:
        """Return the tenant this process serves."""
        return self.settings.tenant


def get_runtime(request: Request) -> Runtime:
    """Dependency: the app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
