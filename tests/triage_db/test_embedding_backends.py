"""Switching the embedding backend: rows record their backend, vectors of different widths are
never compared, ``reembed`` fills the new backend tenant by tenant, and the default backend's
similar-ticket query can use its partial HNSW index."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from mspclaw.cli import app as main_app
from mspclaw.config import get_settings
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.triage import service, similarity
from mspclaw.triage.embeddings import get_backend
from mspclaw.triage.models import INDEXED_BACKEND
from tests.conftest import TenantFixture
from tests.triage_db.conftest import add_connection, store_tickets, ticket

TICKETS = [
    ticket("r1", "Printer jammed", "The HP printer on floor 2 keeps jamming paper in tray 2", status="resolved"),
    ticket("r2", "VPN will not connect", "GlobalProtect VPN fails to connect from home since update", status="closed"),
    ticket("r3", "Password expired", "My password expired and I cannot log in to Windows", status="resolved"),
    ticket("o1", "printer jamming again", "HP printer floor 2 jams paper", status="open", hours=30),
]


@pytest.fixture
def settings_reset() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _triage_all(db: Database, tenant_id: uuid.UUID, ids: dict[str, uuid.UUID]) -> None:
    for ticket_id in ids.values():
        async with tenant_session(db.sessions, tenant_id) as session, session.begin():
            assert await service.triage_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id) is not None


async def _status(db: Database, tenant_id: uuid.UUID) -> dict:  # type: ignore[type-arg]
    async with tenant_session(db.sessions, tenant_id) as session:
        return await similarity.embedding_status(session, tenant_id=tenant_id)


async def _similar(db: Database, tenant_id: uuid.UUID, query: str) -> list[str]:
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        found = await similarity.similar_resolved(session, tenant_id=tenant_id, vector=similarity.embed(query))
    return [s.subject for s in found]


@pytest.mark.usefixtures("settings_reset")
async def test_switching_backend_reembeds_per_tenant_and_never_mixes_widths(
    db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_a = await add_connection(db, tenant_a.id)
    ids_a = await store_tickets(db, tenant_a.id, conn_a, TICKETS)
    ids_b = await store_tickets(db, tenant_b.id, await add_connection(db, tenant_b.id), TICKETS[:2])
    await _triage_all(db, tenant_a.id, ids_a)
    await _triage_all(db, tenant_b.id, ids_b)
    assert similarity.backend().name == INDEXED_BACKEND
    assert (await _status(db, tenant_a.id))["embedded"] == 4

    monkeypatch.setenv("MSPCLAW_EMBEDDING_DIM", "64")
    get_settings.cache_clear()
    assert similarity.backend().name == "hashing-v1-64" and similarity.backend().dim == 64
    before = await _status(db, tenant_a.id)
    assert (before["embedded"], before["missing"], before["other_backends"]) == (0, 4, {INDEXED_BACKEND: 4})
    # 256-wide rows are never compared with a 64-wide vector (pgvector would refuse): no results yet.
    assert await _similar(db, tenant_a.id, "printer jams paper") == []

    done: list[uuid.UUID] = []
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        done = await similarity.reembed_batch(session, tenant_id=tenant_a.id)
    assert sorted(done) == sorted(ids_a.values())
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        assert await similarity.reembed_batch(session, tenant_id=tenant_a.id) == []  # nothing left
    after = await _status(db, tenant_a.id)
    assert (after["embedded"], after["missing"], after["other_backends"]) == (4, 0, {})
    assert (await _similar(db, tenant_a.id, "printer jams paper"))[0] == "Printer jammed"

    # Tenant B was not re-embedded: its rows are still the default backend's, and A's never leak.
    assert (await _status(db, tenant_b.id))["other_backends"] == {INDEXED_BACKEND: 2}
    assert await _similar(db, tenant_b.id, "printer jams paper") == []

    # A ticket triaged now stores the new backend's vector; duplicates compare like with like.
    new = await store_tickets(db, tenant_a.id, conn_a, [ticket("o2", "printer jams", "HP floor 2 paper jam", hours=31)])
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        record = await service.triage_ticket(session, tenant_id=tenant_a.id, ticket_id=new["o2"])
    assert record is not None and record.similar[0]["subject"] == "Printer jammed"
    assert (await _status(db, tenant_a.id))["embedded"] == 5


@pytest.mark.usefixtures("settings_reset")
async def test_sentence_transformers_backend_end_to_end(
    db: Database, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the optional extra and a local model: 384-wide vectors stored, compared exactly."""
    from tests.triage.test_embeddings import _local_model

    monkeypatch.setenv("MSPCLAW_EMBEDDING_BACKEND", "sentence-transformers")
    monkeypatch.setenv("MSPCLAW_EMBEDDING_MODEL", _local_model())
    get_settings.cache_clear()
    ids = await store_tickets(db, tenant_a.id, await add_connection(db, tenant_a.id), TICKETS)
    await _triage_all(db, tenant_a.id, ids)
    status = await _status(db, tenant_a.id)
    assert status["backend"].startswith("st-") and (status["embedded"], status["missing"]) == (4, 0)
    assert (await _similar(db, tenant_a.id, "the printer keeps jamming"))[0] == "Printer jammed"
    assert (await _similar(db, tenant_a.id, "cannot reach the office network from home"))[0] == "VPN will not connect"


@pytest.mark.usefixtures("settings_reset")
async def test_default_backend_similarity_query_can_use_the_partial_hnsw_index(
    db: Database, tenant_a: TenantFixture
) -> None:
    ids = await store_tickets(db, tenant_a.id, await add_connection(db, tenant_a.id), TICKETS)
    await _triage_all(db, tenant_a.id, ids)
    query = similarity._similar_sql(INDEXED_BACKEND)
    params = {
        "tenant": tenant_a.id,
        "vector": similarity._literal(similarity.embed("printer")),
        "exclude": None,
        "k": 5,
    }
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        explained = text("EXPLAIN " + query.text).bindparams(*query._bindparams.values())
        plan = "\n".join(r[0] for r in (await session.execute(explained, params)).all())
    assert "ix_ticket_embeddings_hnsw_default" in plan, plan


@pytest.mark.usefixtures("cli_env")
def test_embeddings_cli_status_and_reembed(
    tmp_path: Path, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSPCLAW_EMBEDDING_DIM", "32")
    get_settings.cache_clear()
    cli = CliRunner()

    async def seed() -> None:
        db = Database.open(get_settings(), pool_size=2)
        try:
            ids = await store_tickets(db, tenant_a.id, await add_connection(db, tenant_a.id), TICKETS)
            assert len(ids) == 4
        finally:
            await db.close()

    asyncio.run(seed())
    status = cli.invoke(main_app, ["embeddings", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert '"backend": "hashing-v1-32"' in status.output and '"missing": 4' in status.output
    reembed = cli.invoke(main_app, ["embeddings", "reembed"])
    assert reembed.exit_code == 0, reembed.output
    assert "done: 4 ticket(s)" in reembed.output and "hashing-v1-32" in reembed.output
    assert '"missing": 0' in cli.invoke(main_app, ["embeddings", "status", "--json"]).output

    monkeypatch.setenv("MSPCLAW_EMBEDDING_BACKEND", "word2vec")
    get_settings.cache_clear()
    wrong = cli.invoke(main_app, ["embeddings", "status"])
    assert wrong.exit_code == 1 and "embedding_backend" in wrong.output
    monkeypatch.setenv("MSPCLAW_EMBEDDING_BACKEND", "sentence-transformers")
    monkeypatch.setenv("MSPCLAW_EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    get_settings.cache_clear()
    missing = cli.invoke(main_app, ["embeddings", "reembed"])
    assert missing.exit_code == 1
    assert "mspclaw[embeddings]" in missing.output or "no-such-model" in missing.output, missing.output


async def test_migration_0013_downgrades_to_the_fixed_width_column_and_back(
    db: Database, database_url: str, tenant_a: TenantFixture
) -> None:
    from alembic import command

    from mspclaw.database.core import alembic_config, upgrade

    ids = await store_tickets(db, tenant_a.id, await add_connection(db, tenant_a.id), TICKETS)
    await _triage_all(db, tenant_a.id, ids)
    narrow = get_backend("hashing", dim=64)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await session.execute(
            text("UPDATE ticket_embeddings SET backend = :b, embedding = CAST(:v AS vector) WHERE ticket_id = :t"),
            {"b": narrow.name, "v": similarity._literal(narrow.embed(["x y"])[0]), "t": ids["r1"]},
        )
    await db.engine.dispose()  # alembic's DDL must not wait on this pool's idle connections

    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0012")
    async with tenant_session(db.sessions, None) as session:
        kind = await session.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'ticket_embeddings'::regclass AND attname = 'embedding'"
            )
        )
        kept = await session.scalar(text("SELECT count(*) FROM ticket_embeddings"))
    assert (kind, kept) == ("vector(256)", 3)  # the 64-wide row could not stay; re-embedding remakes it
    await db.engine.dispose()

    await asyncio.to_thread(upgrade, database_url)
    async with tenant_session(db.sessions, None) as session:
        kind = await session.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'ticket_embeddings'::regclass AND attname = 'embedding'"
            )
        )
    assert kind == "vector"
    found = await _similar(db, tenant_a.id, "password expired, cannot log in")
    assert found[0] == "Password expired" and "Printer jammed" not in found  # r1 awaits re-embedding
