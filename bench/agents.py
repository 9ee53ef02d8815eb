"""Gateway scale benchmark: one gateway process holding N simulated agents.

Starts a gateway (uvicorn + mspclaw.gateway) in one process and a swarm of N lightweight
WebSocket agents in another (they heartbeat and answer dispatches in-process, no real
tools), then dispatches a read tool to every agent at a fixed rate and prints connections
held, memory per connection, round-trip p50/p99 and dispatches per second.

    .venv/bin/python bench/agents.py                 # quick: 500 agents
    .venv/bin/python bench/agents.py --agents 10000  # the full run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve()


def raise_fd_limit() -> int:
    """Each socket is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def use_fast_loop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class GcPauses:
    """Records the length of every garbage-collector pass (the usual source of tail latency)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []
        self._started = 0.0
        self._started_cpu = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.process_time()
        else:
            wall = (time.perf_counter() - self._started) * 1000
            cpu = (time.process_time() - self._started_cpu) * 1000
            self.pauses.append((wall, cpu, info["generation"]))

    def take(self) -> dict[str, Any]:
        pauses, self.pauses = self.pauses, []
        wall, cpu, generation = max(pauses, default=(0.0, 0.0, -1))
        return {
            "gc_passes": len(pauses),
            "gc_max_ms": round(wall, 1),
            "gc_max_cpu_ms": round(cpu, 1),
            "gc_max_gen": generation,
        }


def tune_gc(freeze: bool, thresholds: str) -> None:
    """Move the long-lived connection objects out of the collector's way."""
    if freeze:
        from mspclaw.gateway.runtime import tune_gc_for_connections

        t0, t1, t2 = (int(part) for part in thresholds.split(","))
        tune_gc_for_connections(thresholds=(t0, t1, t2))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- the gateway process --------------------------------------------------------------


def run_gateway(port: int, ws_impl: str) -> None:
    """Serve the gateway plus two bench control routes on 127.0.0.1:port."""
    import uvicorn
    from fastapi import FastAPI

    from mspclaw.gateway import DeviceIdentity, Gateway, gateway_router

    class BenchAuthenticator:
        async def authenticate(self, credential: str) -> DeviceIdentity | None:
            if not credential.startswith("bench-"):
                return None
            return DeviceIdentity(tenant_id="bench", device_id="dev-" + credential[6:])

    gateway = Gateway(BenchAuthenticator(), heartbeat_seconds=30.0)
    gc_pauses = GcPauses()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(gateway_router(gateway))

    @app.get("/bench/stats")
    async def stats() -> dict[str, int]:
        return {"connections": gateway.connection_count, "rss_bytes": rss_bytes()}

    @app.post("/bench/run")
    async def run(spec: dict[str, Any]) -> dict[str, Any]:
        rate, count = spec["rate"], int(spec["count"])
        tune_gc(bool(spec.get("freeze")), str(spec.get("thresholds")))
        gc_pauses.take()
        devices = gateway.connected_devices()
        latencies: list[float] = []
        errors = 0

        async def one(device_id: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                outcome = await gateway.dispatch(device_id, "system_info", {}, timeout=30)
            except Exception:
                errors += 1
                return
            if outcome.ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for index in range(count):
            # Open loop: dispatch i is due at start + i/rate, whatever earlier ones did.
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(devices[index % len(devices)])))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
        return {
            "dispatched": count,
            "ok": len(latencies),
            "errors": errors,
            "seconds": round(elapsed, 2),
            "per_second": round(count / elapsed, 1),
            "p50_ms": round(percentile(latencies, 0.50), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies, default=float("nan")), 2),
            "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
            **gc_pauses.take(),
        }

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws=ws_impl,
        ws_per_message_deflate=False,
        backlog=4096,
    )


# -- the swarm process ----------------------------------------------------------------


async def simulated_agent(url: str, index: int, gate: asyncio.Semaphore, connected: list[int]) -> None:
    """One agent: hello, heartbeat every ~30 s, answer each dispatch at once."""
    from websockets.asyncio.client import connect

    async with gate:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer bench-{index}"},
            compression=None,
            ping_interval=None,
            open_timeout=120,
            max_queue=4,
        )
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "device_id": f"dev-{index}",
                    "agent_version": "bench",
                    "os": "linux",
                    "hostname": f"bench-{index}",
                    "tools": ["system_info"],
                }
            )
        )
        await ws.recv()
    connected[0] += 1

    async def heartbeat() -> None:
        await asyncio.sleep(random.uniform(0, 30))
        while True:
            await ws.send('{"type":"heartbeat"}')
            await asyncio.sleep(30)

    beat = asyncio.create_task(heartbeat())
    output = {"hostname": f"bench-{index}", "os": "linux", "cpu_count": 2}
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "dispatch":
                await ws.send(
                    json.dumps(
                        {
                            "type": "result",
                            "command_id": message["command_id"],
                            "outcome": {
                                "tool": message["tool"],
                                "ok": True,
                                "output": output,
                                "duration_ms": 1,
                            },
                        }
                    )
                )
    finally:
        beat.cancel()


async def run_swarm(url: str, count: int, parallel: int, freeze: bool, thresholds: str) -> None:
    gate = asyncio.Semaphore(parallel)
    connected = [0]
    tasks = [asyncio.create_task(simulated_agent(url, i, gate, connected)) for i in range(count)]
    started = time.perf_counter()
    while connected[0] < count:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            print(f"SWARM-FAILED {failed[0].exception()!r}", flush=True)
            return
        await asyncio.sleep(0.2)
    tune_gc(freeze, thresholds)
    print(f"SWARM-CONNECTED {count} {time.perf_counter() - started:.1f}", flush=True)
    await asyncio.gather(*tasks)


# -- the orchestrator -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, within: float, what: str) -> Any:
    end = time.monotonic() + within
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value:
                return value
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}")


def orchestrate(args: argparse.Namespace) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    me = [sys.executable, str(HERE)]
    gateway = subprocess.Popen([*me, "gateway", "--port", str(port), "--ws", args.ws])
    swarm: subprocess.Popen[str] | None = None
    client = httpx.Client(base_url=base, timeout=600)
    try:
        wait_until(lambda: client.get("/bench/stats").status_code == 200, 30, "gateway start")
        baseline = client.get("/bench/stats").json()["rss_bytes"]
        swarm = subprocess.Popen(
            [
                *me,
                "swarm",
                "--url",
                f"ws://127.0.0.1:{port}/gateway/ws",
                "--agents",
                str(args.agents),
                "--parallel",
                str(args.parallel),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert swarm.stdout is not None
        line = swarm.stdout.readline().split()
        if not line or line[0] != "SWARM-CONNECTED":
            raise SystemExit(f"swarm failed: {' '.join(line)}")
        connect_seconds = float(line[2])
        wait_until(
            lambda: client.get("/bench/stats").json()["connections"] == args.agents,
            60,
            "all connections registered",
        )
        time.sleep(2)  # let the heap settle after the connection storm
        held = client.get("/bench/stats").json()
        per_conn = (held["rss_bytes"] - baseline) / args.agents
        print(f"agents connected:        {held['connections']} (in {connect_seconds:.1f} s)")
        print(
            f"gateway RSS:             {baseline / 2**20:.1f} MiB idle -> "
            f"{held['rss_bytes'] / 2**20:.1f} MiB with agents"
        )
        print(f"memory per connection:   {per_conn / 1024:.1f} KiB")
        runs = [(args.rate, args.dispatches or args.agents)]
        if args.burst_rate:
            runs.append((args.burst_rate, min(args.agents, args.burst_rate * 10)))
        for rate, count in runs:
            spec = {"rate": rate, "count": count, "freeze": args.gc_freeze, "thresholds": args.gc_thresholds}
            response = client.post("/bench/run", json=spec)
            response.raise_for_status()
            report = response.json()
            print(
                f"dispatch @ {rate:>5}/s target: {report['dispatched']} sent, {report['ok']} ok, "
                f"{report['errors']} errors, {report['per_second']}/s achieved, "
                f"p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms; "
                f"gateway GC: {report['gc_passes']} passes, longest {report['gc_max_ms']} ms "
                f"({report['gc_max_cpu_ms']} ms CPU, generation {report['gc_max_gen']})"
            )
        final = client.get("/bench/stats").json()
        print(f"connections still held:  {final['connections']}")
    finally:
        for proc in (swarm, gateway):
            if proc is not None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role")
    g = sub.add_parser("gateway")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--ws", default="websockets-sansio")
    s = sub.add_parser("swarm")
    s.add_argument("--url", required=True)
    s.add_argument("--agents", type=int, required=True)
    s.add_argument("--parallel", type=int, default=200)
    s.add_argument("--gc-freeze", action="store_true")
    s.add_argument("--gc-thresholds", default="50000,20,100")
    parser.add_argument("--agents", type=int, default=500, help="simulated agents (10000: full)")
    parser.add_argument("--rate", type=float, default=200, help="dispatches per second")
    parser.add_argument("--dispatches", type=int, default=0, help="default: one per agent")
    parser.add_argument("--burst-rate", type=int, default=1000, help="second run; 0 skips")
    parser.add_argument("--parallel", type=int, default=200, help="concurrent handshakes")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn WebSocket impl")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the connection objects and raise GC thresholds in both processes",
    )
    parser.add_argument("--gc-thresholds", default="50000,20,100", help="with --gc-freeze")
    args = parser.parse_args()
    limit = raise_fd_limit()
    if args.role is None and args.agents + 100 > limit:
        raise SystemExit(f"file descriptor limit {limit} is too low for {args.agents} agents")
    use_fast_loop()
    if args.role == "gateway":
        run_gateway(args.port, args.ws)
    elif args.role == "swarm":
        asyncio.run(run_swarm(args.url, args.agents, args.parallel, args.gc_freeze, args.gc_thresholds))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
