"""One-ticket triage on PostgreSQL, including the pgvector similarity lookup: prints figures,
asserts nothing.

Usage: .venv/bin/python bench/triage_db.py [--index N] [--tickets N] [--database-url URL]
Without a URL an embedded PostgreSQL is started in a temporary folder. Two tenants each get
N resolved tickets with embeddings (HNSW index, cosine); then for one tenant it measures:
  adhoc   = POST /api/v1/triage's work: tenant model lookup, normalise, intent, urgency,
            embedding and the top-5 similar resolved tickets (with resolutions) in SQL;
  stored  = the automatic job's work: the same plus client context, duplicate search,
            storing the embedding and the result, and the commit;
  lookup  = the similarity query alone.
Target: p99 < 20 ms per ticket.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

# One BLAS thread, as a triage worker should run (see bench/triage.py). Before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: E402

from mspclaw.bootstrap import create_tenant_with_owner  # noqa: E402
from mspclaw.config import Settings  # noqa: E402
from mspclaw.connectors import models as vendor  # noqa: E402
from mspclaw.database.core import Database  # noqa: E402
from mspclaw.database.session import tenant_session  # noqa: E402
from mspclaw.sync.models import Connection  # noqa: E402
from mspclaw.tenancy.service import get_tenant_by_slug_or_id  # noqa: E402
from mspclaw.tickets import service as tickets  # noqa: E402
from mspclaw.tickets.models import Ticket  # noqa: E402
from mspclaw.triage import service, similarity  # noqa: E402
from mspclaw.triage.models import TicketEmbedding, TriageRequest  # noqa: E402
from mspclaw.triage.normalise import normalise_ticket  # noqa: E402
from mspclaw.triage.seed_corpus import SeedExample, generate  # noqa: E402

T0 = datetime(2026, 10, 1, tzinfo=UTC)
CHUNK = 500


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))]


def _report(name: str, samples: list[float]) -> None:
    ms = sorted(samples)
    print(
        f"{name:<7} n={len(ms):<5} p50 {statistics.median(ms):6.2f} ms   p95 {_percentile(ms, 0.95):6.2f} ms   "
        f"p99 {_percentile(ms, 0.99):6.2f} ms   max {ms[-1]:6.2f} ms"
    )


async def _tenant(db: Database, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    slug = name.lower().replace(" ", "-")
    await create_tenant_with_owner(
        db.sessions, name=name, slug=slug, owner_email=f"owner@{slug}.example", owner_name="Owner"
    )
    async with tenant_session(db.sessions, None) as session:
        tenant = await get_tenant_by_slug_or_id(session, slug)
    async with tenant_session(db.sessions, tenant.id) as session, session.begin():
        conn = Connection(connector="superops", name="PSA", hook_path=uuid.uuid4().hex, tenant_id=tenant.id)
        session.add(conn)
        await session.flush()
        return tenant.id, conn.id


def _vendor_ticket(
    external_id: str, example: SeedExample, status: str, minute: int, contact: str | None = None
) -> vendor.Ticket:
    at = T0 + timedelta(minutes=minute)
    return vendor.Ticket(
        external_id=external_id,
        subject=example.subject,
        description=example.body,
        status=status,  # type: ignore[arg-type]
        contact_external_id=contact,
        created_at=at,
        updated_at=at,
    )


async def _fill(db: Database, tenant_id: uuid.UUID, connection_id: uuid.UUID, n: int, seed: int) -> None:
    """``n`` resolved tickets with embeddings (bulk, as a backfill would)."""
    examples = generate(per_intent=n // 17 + 1, seed=seed)[:n]
    for start in range(0, len(examples), CHUNK):
        chunk = examples[start : start + CHUNK]
        items = [_vendor_ticket(f"{seed}-{start + i}", e, "resolved", start + i) for i, e in enumerate(chunk)]
        async with tenant_session(db.sessions, tenant_id) as session, session.begin():
            ids = await tickets.upsert_tickets(session, tenant_id=tenant_id, connection_id=connection_id, tickets=items)
            rows = (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()
            values = []
            for row in rows:
                vector = similarity.embed(normalise_ticket(row.subject, row.description or "").text)
                values.append(
                    {
                        "ticket_id": row.id,
                        "tenant_id": tenant_id,
                        "backend": similarity.backend().name,
                        "embedding": vector,
                        "ticket_updated_at": row.vendor_updated_at,
                        "updated_at": datetime.now(UTC),
                    }
                )
            await session.execute(pg_insert(TicketEmbedding).values(values))


async def _measure(n: int, one: Callable[[int], Awaitable[None]]) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await one(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=int, default=5000, help="resolved tickets per tenant")
    parser.add_argument("--tickets", type=int, default=500, help="tickets to triage per measurement")
    parser.add_argument("--database-url", default=os.environ.get("MSPCLAW_BENCH_DATABASE_URL"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mspclaw-bench-") as folder:
        settings = Settings(data_dir=Path(folder), database_url=args.database_url, environment="development")
        db = Database.open(settings, pool_size=4)
        try:
            await db.migrate()
            started = time.perf_counter()
            tenant_a, conn_a = await _tenant(db, f"Bench A {uuid.uuid4().hex[:6]}")
            tenant_b, conn_b = await _tenant(db, f"Bench B {uuid.uuid4().hex[:6]}")
            await _fill(db, tenant_a, conn_a, args.index, seed=7)
            await _fill(db, tenant_b, conn_b, args.index, seed=8)
            async with db.engine.connect() as conn:  # what autovacuum would do after a backfill
                await conn.execute(text("ANALYZE"))
                await conn.commit()
            print(
                f"index: {args.index} resolved tickets per tenant x 2 tenants, built in "
                f"{time.perf_counter() - started:.1f}s (HNSW m=16, cosine)"
            )

            new = generate(per_intent=args.tickets // 17 + 1, seed=11)[: args.tickets]
            for e in new[:20]:  # warm the model, caches and the connection pool
                async with tenant_session(db.sessions, tenant_a) as session:
                    await service.triage_adhoc(
                        session, tenant_id=tenant_a, data=TriageRequest(subject=e.subject, body=e.body)
                    )

            async def adhoc(i: int) -> None:
                async with tenant_session(db.sessions, tenant_a) as session:
                    answer = await service.triage_adhoc(
                        session, tenant_id=tenant_a, data=TriageRequest(subject=new[i].subject, body=new[i].body)
                    )
                    assert len(answer.similar) == similarity.TOP_K
                    await session.rollback()

            async def lookup(i: int) -> None:
                async with tenant_session(db.sessions, tenant_a) as session:
                    await similarity.similar_resolved(session, tenant_id=tenant_a, vector=vectors[i])
                    await session.rollback()

            vectors = [similarity.embed(normalise_ticket(e.subject, e.body).text) for e in new]
            _report("lookup", await _measure(len(new), lookup))
            _report("adhoc", await _measure(len(new), adhoc))

            items = [
                _vendor_ticket(f"new-{i}", e, "new", 30 * 24 * 60 + i, contact=f"user{i % 50}@client.example")
                for i, e in enumerate(new)
            ]
            async with tenant_session(db.sessions, tenant_a) as session, session.begin():
                new_ids = await tickets.upsert_tickets(session, tenant_id=tenant_a, connection_id=conn_a, tickets=items)

            async def stored(i: int) -> None:
                async with tenant_session(db.sessions, tenant_a) as session, session.begin():
                    await service.triage_ticket(session, tenant_id=tenant_a, ticket_id=new_ids[i])

            _report("stored", await _measure(len(new_ids), stored))
            print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
