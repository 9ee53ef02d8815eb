"""Connector commands: ``mspclaw simulate <connector>`` serves one vendor simulator so an MSP
or integrator can point their own scripts and tools at a sandbox PSA/RMM, and
``mspclaw connectors`` lists the installed connectors and what they can do.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from mspclaw.connectors.registry import all_connectors, get_connector
from mspclaw.connectors.simulator import (
    FaultPlan,
    Simulator,
    free_port,
    self_signed_certificate,
)
from mspclaw.connectors.spec import CAPABILITIES

app = typer.Typer(help="Connector tools: vendor simulators and the connector list.", no_args_is_help=True)


def build_simulator(connector: str, *, seed: str = "demo", faults: str | None = None, tickets: int = 200) -> Simulator:
    """The simulator of an installed connector, seeded and with faults queued."""
    cls = get_connector(connector)
    if not cls.simulator:
        raise typer.BadParameter(f"connector {connector!r} ships no simulator")
    module_name, _, attr = cls.simulator.partition(":")
    sim_cls = getattr(importlib.import_module(module_name), attr)
    try:
        plan = FaultPlan.parse(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    sim: Simulator = sim_cls(seed, tickets=tickets, faults=plan)
    return sim


def banner(sim: Simulator, url: str) -> str:
    """What to print on start: where it listens, the credentials, the admin API."""
    summary = sim.summary()
    credentials = {k: str(v).replace("<base>", url) for k, v in summary["credentials"].items()}
    counts = {k: v for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)}
    return "\n".join(
        [
            f"{sim.name} simulator listening on {url}",
            "credentials: " + json.dumps(credentials, indent=2),
            "seeded: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
            f"admin API: {url}/_sim/state, POST {url}/_sim/faults, POST {url}/_sim/tickets, "
            f"PATCH {url}/_sim/tickets/<id>, POST {url}/_sim/reset (docs: {url}/_sim/docs)",
        ]
    )


def simulate_command(
    connector: Annotated[
        str, typer.Argument(help="Connector name: superops, connectwise, ninjaone (or an installed community one).")
    ],
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8765,
    seed: Annotated[
        str, typer.Option(help="Seed for the generated tickets, companies, contacts and devices; same seed, same data.")
    ] = "demo",
    faults: Annotated[
        str | None,
        typer.Option(
            help="Faults to inject, e.g. '429x5,500x2,timeoutx1,slowx3,malformedx1,dupx2'; "
            "'limit=N' enforces N requests/minute (limit=0 turns the vendor's limit off)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean to share the sandbox).")
    ] = "127.0.0.1",
    tickets: Annotated[int, typer.Option(help="How many tickets to seed.")] = 200,
    tls: Annotated[
        bool,
        typer.Option(
            help="Serve HTTPS with a throwaway certificate (for "
            "clients that insist on HTTPS); trust the printed CA "
            "file."
        ),
    ] = False,
) -> None:
    """Serve one vendor simulator (same API shape, auth, paging, errors and limits as the
    vendor) until Ctrl-C. Nothing leaves this machine."""
    sim = build_simulator(connector, seed=seed, faults=faults, tickets=tickets)
    port = port or free_port(host)
    ssl: dict[str, str] = {}
    scheme = "http"
    if tls:
        folder = Path(tempfile.mkdtemp(prefix="mspclaw-sim-"))
        cert, key = self_signed_certificate(folder, host)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        scheme = "https"
        typer.echo(f"CA file to trust: {cert}")
    typer.echo(banner(sim, f"{scheme}://{host}:{port}"))
    uvicorn.run(sim.app(), host=host, port=port, log_level="warning", **ssl)  # type: ignore[arg-type]


def connectors_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List installed connectors, their kind and which capabilities they have (and why not)."""
    rows = []
    for name, cls in sorted(all_connectors().items()):
        spec = cls.spec()
        rows.append(
            {
                "name": name,
                "title": spec.title,
                "kind": spec.kind,
                "stage": spec.release_stage,
                "capabilities": {c: spec.capabilities[c].supported for c in CAPABILITIES},
                "absent": {c: spec.absent_reason(c) for c in CAPABILITIES if not spec.supports(c)},
                "simulator": bool(cls.simulator),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        have = ", ".join(c for c, ok in row["capabilities"].items() if ok)  # type: ignore[attr-defined]
        typer.echo(f"{row['name']:<12} {row['kind']:<4} {row['stage']:<10} {have}")
        for cap, reason in row["absent"].items():  # type: ignore[attr-defined]
            typer.echo(f"{'':<12} no {cap}: {reason}")


app.command("simulate")(simulate_command)
app.command("list")(connectors_command)

if __name__ == "__main__":
    app()
