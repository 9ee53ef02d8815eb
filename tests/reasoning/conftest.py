"""Reasoning fixtures: the sync runtime (from the sync tests), a ConnectWise simulator with only the
test's tickets, recording backends for the executor, and ``env`` bundling what the API tests use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mspclaw.config import Settings
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.database.core import Database
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.test_instructions import psa, recorded  # noqa: F401 - re-exported fixtures
from tests.runs.helpers import RecordingBackend
from tests.sync.conftest import rt  # noqa: F401 - re-exported fixture


@dataclass
class Env:
    """The API, a tenant, the PSA simulator, the executor's recording backends and the database."""

    http: httpx.AsyncClient
    tenant: TenantFixture
    rt: SyncRuntime
    psa: tuple[ConnectWiseSimulator, str]
    recorded: dict[str, RecordingBackend]
    db: Database
    data_dir: Path


@pytest.fixture
def env(
    rt: SyncRuntime,  # noqa: F811
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],  # noqa: F811
    recorded: dict[str, RecordingBackend],  # noqa: F811
    db: Database,
    settings: Settings,
) -> Env:
    return Env(http, tenant_a, rt, psa, recorded, db, settings.data_dir)
