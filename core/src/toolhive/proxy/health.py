"""The supervisor's health loop: ping the server through its transport, report transitions.

ToolHive's transparent proxy pings every ``TOOLHIVE_HEALTH_CHECK_INTERVAL`` (10 s) and, after
``TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD`` (5) failures in a row, shuts the proxy down and marks the
workload ``unhealthy``. We mark it ``unhealthy`` but keep serving, and mark it ``running`` again as
soon as a ping succeeds: a server that recovers (a remote that was briefly down, a stuck process that
catches up) needs no ``thv restart``, and clients keep getting clear errors meanwhile.

After a failure the next ping comes after ``TOOLHIVE_HEALTH_CHECK_RETRY_DELAY`` (5 s) when that is
shorter than the interval. Values are seconds or Go durations (``10``, ``10s``, ``1m30s``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from toolhive.web.durations import env_seconds

log = logging.getLogger("toolhive.proxy.health")

INTERVAL_ENV = "TOOLHIVE_HEALTH_CHECK_INTERVAL"
PING_TIMEOUT_ENV = "TOOLHIVE_HEALTH_CHECK_PING_TIMEOUT"
RETRY_DELAY_ENV = "TOOLHIVE_HEALTH_CHECK_RETRY_DELAY"
THRESHOLD_ENV = "TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD"
REMOTE_ENV = "TOOLHIVE_REMOTE_HEALTHCHECKS"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HealthSettings:
    interval: float = 10.0
    ping_timeout: float = 5.0
    retry_delay: float = 5.0
    failure_threshold: int = 5

    @classmethod
    def from_env(cls) -> HealthSettings:
        try:
            threshold = int(os.environ.get(THRESHOLD_ENV, "") or 5)
        except ValueError:
            threshold = 5
        return cls(
            interval=env_seconds(INTERVAL_ENV, 10.0),
            ping_timeout=env_seconds(PING_TIMEOUT_ENV, 5.0),
            retry_delay=env_seconds(RETRY_DELAY_ENV, 5.0),
            failure_threshold=max(1, threshold),
        )


class HealthLoop:
    """Calls ``ping`` forever; ``on_unhealthy(reason)`` once per run of failures reaching the
    threshold, ``on_recovered()`` on the first success after that."""

    def __init__(
        self,
        ping: Callable[[float], Awaitable[None]],
        *,
        on_unhealthy: Callable[[str], None],
        on_recovered: Callable[[], None],
        settings: HealthSettings | None = None,
    ) -> None:
        self._ping = ping
        self._on_unhealthy = on_unhealthy
        self._on_recovered = on_recovered
        self.settings = settings or HealthSettings.from_env()
        self.failures = 0
        self.unhealthy = False

    async def check_once(self) -> bool:
        """One ping; updates the failure count and fires transitions. True if it succeeded."""
        timeout = self.settings.ping_timeout
        try:
            async with asyncio.timeout(timeout + 1.0):
                await self._ping(timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError) and not str(exc):
                reason = f"no answer within {timeout:g}s"
            log.warning(
                "health check failed (%d/%d): %s",
                self.failures,
                self.settings.failure_threshold,
                reason,
            )
            if not self.unhealthy and self.failures >= self.settings.failure_threshold:
                self.unhealthy = True
                self._on_unhealthy(f"health check failed {self.failures} times in a row: {reason}")
            return False
        if self.failures:
            log.info("health check succeeded after %d failure(s)", self.failures)
        self.failures = 0
        if self.unhealthy:
            self.unhealthy = False
            self._on_recovered()
        return True

    async def run(self) -> None:
        """Check after each interval (the server was just found ready), sooner after a failure."""
        settings = self.settings
        delay = settings.interval
        while True:
            await asyncio.sleep(delay)
            ok = await self.check_once()
            delay = settings.interval if ok else min(settings.interval, settings.retry_delay)
