"""The operator commands exit non-zero when leadership is lost, and always close clients."""

from __future__ import annotations

import logging

import pytest

from kaito.cli.common import parse_duration, run_manager
from kaito.runtime.leader import LeaderElectionLost


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class FakeManager:
    def __init__(self, error: BaseException | None) -> None:
        self.client = FakeClient()
        self.error = error

    async def run(self) -> None:
        if self.error is not None:
            raise self.error


async def test_lost_lease_exits_1_and_closes_in_order() -> None:
    closed: list[str] = []
    manager = FakeManager(LeaderElectionLost("renew deadline exceeded"))

    async def close_provider() -> None:
        closed.append("provider")
        assert not manager.client.closed  # provider first, then the API client

    code = await run_manager(manager, logging.getLogger("t"), close_first=close_provider)  # type: ignore[arg-type]
    assert code == 1
    assert closed == ["provider"]
    assert manager.client.closed


async def test_clean_stop_exits_0() -> None:
    manager = FakeManager(None)
    assert await run_manager(manager, logging.getLogger("t")) == 0  # type: ignore[arg-type]
    assert manager.client.closed


async def test_other_errors_propagate_but_still_close() -> None:
    manager = FakeManager(RuntimeError("cache sync timeout"))
    with pytest.raises(RuntimeError):
        await run_manager(manager, logging.getLogger("t"))  # type: ignore[arg-type]
    assert manager.client.closed


@pytest.mark.parametrize(
    ("text", "seconds"), [("10h", 36000.0), ("90s", 90.0), ("1m30s", 90.0), ("2.5", 2.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
