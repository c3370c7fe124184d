"""The health loop's counting and settings, pinging a real stdio server through the real bridge."""

from __future__ import annotations

import os
import signal

import pytest
from harness import bridged
from toolhive.proxy.health import HealthLoop, HealthSettings
from toolhive.web.durations import parse_duration

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def test_durations() -> None:
    assert parse_duration("10", 1) == 10
    assert parse_duration("1.5", 1) == 1.5
    assert parse_duration("250ms", 1) == 0.25
    assert parse_duration("1h30m", 1) == 5400
    assert parse_duration("2m5s", 1) == 125
    for bad in ("", "soon", "5x", "m", "10s5"):
        assert parse_duration(bad, 7.0) == 7.0, bad


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert HealthSettings.from_env() == HealthSettings(10.0, 5.0, 5.0, 5)
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_INTERVAL", "30s")
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_PING_TIMEOUT", "2")
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_RETRY_DELAY", "500ms")
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD", "3")
    assert HealthSettings.from_env() == HealthSettings(30.0, 2.0, 0.5, 3)
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_INTERVAL", "-1")
    monkeypatch.setenv("TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD", "lots")
    assert HealthSettings.from_env().interval == 10.0
    assert HealthSettings.from_env().failure_threshold == 5


async def test_transitions_with_a_stopped_and_resumed_server() -> None:
    """SIGSTOP makes the real server miss pings (timeouts); SIGCONT brings it back."""
    events: list[str] = []
    async with bridged() as b:
        loop = HealthLoop(
            b.bridge.ping,
            on_unhealthy=lambda reason: events.append(f"unhealthy: {reason}"),
            on_recovered=lambda: events.append("recovered"),
            settings=HealthSettings(
                interval=0.1, ping_timeout=30, retry_delay=0.1, failure_threshold=3
            ),
        )
        assert await loop.check_once()  # the first ping also waits for the server to start
        loop.settings = HealthSettings(
            interval=0.1, ping_timeout=0.3, retry_delay=0.1, failure_threshold=3
        )
        os.kill(b.server.process.pid, signal.SIGSTOP)
        try:
            assert not await loop.check_once()
            assert not await loop.check_once()
            assert events == []  # below the threshold
            assert not await loop.check_once()
            assert len(events) == 1 and events[0].startswith("unhealthy: health check failed 3")
            assert not await loop.check_once()
            assert len(events) == 1  # reported once per run of failures
        finally:
            os.kill(b.server.process.pid, signal.SIGCONT)
        loop.settings = HealthSettings(
            interval=0.1, ping_timeout=10, retry_delay=0.1, failure_threshold=3
        )
        assert await loop.check_once()
        assert events[-1] == "recovered" and loop.failures == 0
