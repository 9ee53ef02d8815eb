"""Loop fixtures: the sync runtime (from the sync tests), a PSA simulator with only the test's own
tickets, the executor running endpoint tools for real on this host, and a loopback receiver
that records what apprise delivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.simulator import ServedApp
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.core import Database
from mspclaw.runs import runtime as runs_runtime
from mspclaw.runs.journal import JournaledBackend
from mspclaw.tools import BackendRouter, LocalEndpointBackend
from tests.loop.helpers import Receiver
from tests.sync.conftest import rt  # noqa: F401 - re-exported fixture


@pytest.fixture
def psa() -> Iterator[tuple[ConnectWiseSimulator, str]]:
    sim = ConnectWiseSimulator("loop", tickets=0, faults="limit=0")  # only the test's own ticket
    with ServedApp(sim.app()) as server:
        yield sim, server.url


@pytest.fixture
def superops() -> Iterator[tuple[SuperOpsSimulator, str]]:
    sim = SuperOpsSimulator("loop", tickets=0, faults="limit=0")
    with ServedApp(sim.app()) as server:
        yield sim, server.url


@pytest.fixture
def endpoint_runtime(db: Database, tmp_path: Path) -> Iterator[None]:
    """The executor runs endpoint tools for real on this machine (the device is this host)."""
    runs_runtime.install(
        runs_runtime.RunRuntime(
            db.sessions, BackendRouter(JournaledBackend(LocalEndpointBackend(), tmp_path / "journal"))
        )
    )
    yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that keeps every request apprise's json:// plugin sends it."""
    inbox = Receiver()
    with ServedApp(inbox.app()) as server:
        inbox.url = server.url
        yield inbox
