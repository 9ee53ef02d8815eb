"""Fixtures of the run tests: an installed executor runtime with a recording identity and
notification backend, and the real local endpoint backend behind its journal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mspclaw.database.core import Database
from mspclaw.runs import runtime
from mspclaw.runs.journal import JournaledBackend
from mspclaw.tools import BackendRouter, LocalEndpointBackend
from tests.runs.helpers import RecordingBackend


@pytest.fixture
def endpoint_router(db: Database, tmp_path: Path) -> Iterator[BackendRouter]:
    """Only the real endpoint backend (journalled): identity/notification are not configured."""
    router = BackendRouter(JournaledBackend(LocalEndpointBackend(), tmp_path / "journal"))
    runtime.install(runtime.RunRuntime(db.sessions, router))
    yield router


@pytest.fixture
def recorder(db: Database) -> Iterator[RecordingBackend]:
    """A recording endpoint backend (for scripted outcomes: rollback, approvals, properties)."""
    backend = RecordingBackend("endpoint")
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend)))
    yield backend
