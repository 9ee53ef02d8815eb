"""Built-in endpoint playbooks run through the executor against the real local endpoint backend."""

from __future__ import annotations

from pathlib import Path

from mspclaw.database.core import Database
from mspclaw.tools import BackendRouter
from tests.conftest import TenantFixture
from tests.runs.helpers import OPEN_POLICY, make_client, run_worker, show, start


async def test_low_disk_space_cleans_only_old_files_and_writes_the_note(
    db: Database, tenant_a: TenantFixture, endpoint_router: BackendRouter, tmp_path: Path
) -> None:
    junk = tmp_path / "cache"
    junk.mkdir()
    old = junk / "old.tmp"
    old.write_bytes(b"x" * 4096)
    import os

    os.utime(old, (1, 1))
    fresh = junk / "fresh.tmp"
    fresh.write_text("keep me")
    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(
        db,
        tenant_a.id,
        "low-disk-space",
        client_id,
        device_id,
        context={"client": {"cleanup_paths": [str(junk)], "cleanup_age_hours": 1}},
    )
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "succeeded", run
    assert [(s.step_id, s.status) for s in run.steps] == [
        ("before", "succeeded"),
        ("cleanup", "succeeded"),
        ("after", "succeeded"),
    ]
    assert not old.exists() and fresh.exists()
    assert "Freed 4096 bytes (1" in (run.note or "")
