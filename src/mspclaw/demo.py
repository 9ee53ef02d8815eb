"""The newcomer's demo (``mspclaw up --demo``): a ConnectWise simulator on loopback, a demo client
with a policy, a connection to the simulator with its callback registered, a real local endpoint
agent enrolled for the demo device, and a script of realistic tickets created over the first minute.

Every step is idempotent: a restart finds the client, connection and device again (the simulator's
tickets and notes are kept in ``<data_dir>/demo``), and scripted tickets already filed are not filed
twice. Tests call :func:`ensure_demo`, :func:`ensure_demo_agent` and :func:`file_ticket` directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from mspclaw.audit import service as audit
from mspclaw.audit.service import Actor
from mspclaw.connectors.base import TicketsCapability, WebhooksCapability
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.models import TicketCreate
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.sync import polling
from mspclaw.sync import runtime as sync_runtime
from mspclaw.sync import service as connections
from mspclaw.sync.models import Connection, ConnectionCreate
from mspclaw.tenancy import service as tenancy
from mspclaw.tenancy.models import Client, ClientCreate, Device, Tenant
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.vault.keys import KeyringProvider

log = structlog.get_logger(__name__)

SEED = "demo"
CONNECTION_NAME = "ConnectWise (demo simulator)"
DEMO_ACTOR = Actor("system", "demo", "mspclaw up --demo")
#: Auto-run what is safe unattended (read-only steps); every change waits for a technician.
#: Approvals wait half an hour so a newcomer has time to find them.
DEMO_POLICY = ClientPolicy(auto_run=True, unattended_risks=["read"], approval_timeout_seconds=1800)
AGENT_BIN = Path(sys.executable).with_name("mspclaw-agent")


class DemoUnavailable(MSPclawError):
    """The demo cannot start here (e.g. its simulator's port is taken); the message says what to do."""

    code = "demo_unavailable"


@dataclass(frozen=True)
class ScriptedTicket:
    """A ticket the demo files in the simulator ``after`` seconds into the demo."""

    after: float
    subject: str
    description: str
    #: what a newcomer should see happen (printed in the banner)
    expect: str


SCRIPT: tuple[ScriptedTicket, ...] = (
    ScriptedTicket(
        3,
        "Printer on 2nd floor offline",
        "The printer on the 2nd floor shows offline and my print job is stuck in the print queue.",
        "printer playbook runs on the demo device (clearing the queue waits for approval where CUPS exists)",
    ),
    ScriptedTicket(
        10,
        "Low disk space warning on my laptop",
        "My laptop keeps warning about low disk space, the disk is almost full and I cannot save files.",
        "disk usage is measured; the temp-file clean-up WAITS FOR YOUR APPROVAL",
    ),
    ScriptedTicket(
        20,
        "User locked out after too many attempts",
        "I am locked out of my account after too many attempts this morning, account locked.",
        "no identity provider is configured for the demo client: escalated with a note",
    ),
    ScriptedTicket(
        35,
        "Computer very slow since the update",
        "My computer is very slow and freezing since yesterday's update.",
        "slow-computer is suggested (suggest-only): start it with the button on the ticket page",
    ),
    ScriptedTicket(
        50,
        "Forgot my password",
        "I forgot my password and need a password reset please.",
        "password-reset is suggested (credential changes need a technician)",
    ),
)


@dataclass
class DemoSetup:
    """What the demo set up (ids to find it again)."""

    tenant_id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    connection_id: uuid.UUID
    company_id: str
    contact_ids: list[str]


# ------------------------------------------------------------------ simulator state


def new_simulator(state_file: Path | None = None) -> ConnectWiseSimulator:
    """The demo's ConnectWise instance: seeded companies and contacts, no tickets yet, no rate
    limit; with ``state_file`` the tickets and notes of an earlier demo run are restored."""
    sim = ConnectWiseSimulator(SEED, tickets=0, faults="limit=0")
    if state_file is not None and state_file.exists():
        data = json.loads(state_file.read_text())
        with sim.lock:
            sim.tickets = {int(k): v for k, v in data["tickets"].items()}
            sim.notes = {int(k): v for k, v in data["notes"].items()}
            sim._next_note = int(data["next_note"])
    return sim


def save_simulator(sim: ConnectWiseSimulator, state_file: Path) -> None:
    """Keep the simulator's tickets and notes for the next start (atomic replace)."""
    with sim.lock:
        data = {"tickets": sim.tickets, "notes": sim.notes, "next_note": sim._next_note}
        text = json.dumps(data)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(state_file)


def demo_company(sim: ConnectWiseSimulator) -> dict[str, Any]:
    """The simulator company the demo client stands for (the first seeded one)."""
    return sim.companies[min(sim.companies)]


# ------------------------------------------------------------------ database side


async def _demo_tenant(db: Database) -> Tenant:
    async with tenant_session(db.sessions, None) as session:
        tenants = await tenancy.list_tenants(session)
    if not tenants:
        raise RuntimeError("no tenant exists: run ensure_first_tenant before the demo")
    return next((t for t in tenants if t.slug == "my-msp"), tenants[0])


async def ensure_demo(
    db: Database,
    keys: KeyringProvider,
    *,
    sim: ConnectWiseSimulator,
    sim_url: str,
    public_url: str,
    tenant_id: uuid.UUID | None = None,
    policy: ClientPolicy = DEMO_POLICY,
) -> DemoSetup:
    """Create (or find) the demo client (with ``policy`` when new), its connection to the simulator
    and the client link, register the simulator's ticket callback to ``public_url``, and sync the
    directory once."""
    tenant = await _demo_tenant(db) if tenant_id is None else None
    tid = tenant_id or (tenant.id if tenant else None)
    assert tid is not None
    company = demo_company(sim)
    domain = str(company.get("website") or "").removeprefix("www.") or None
    ring = keys.current()
    async with tenant_session(db.sessions, tid) as session, session.begin():
        client = await session.scalar(select(Client).where(Client.name == company["name"]))
        if client is None:
            client = await tenancy.create_client(
                session, data=ClientCreate(name=company["name"], domain=domain, policy=policy)
            )
            await audit.record(
                session,
                actor=DEMO_ACTOR,
                action="client.create",
                target_type="client",
                target_id=client.id,
                after={"name": client.name, "domain": client.domain, "policy": client.policy},
            )
        found = next((c for c in await connections.list_all(session) if c.name == CONNECTION_NAME), None)
        if found is not None and found.config.get("site_url") != sim_url:
            # the simulator moved to another port: a connection to the old one cannot be tested
            await audit.record(
                session, actor=DEMO_ACTOR, action="connection.delete", target_type="connection", target_id=found.id
            )
            await connections.delete(session, connection=found)
            found = None
        if found is None:
            creds = sim.summary()["credentials"]
            config = {k: str(creds[k]).replace("<base>", sim_url) for k in ("site_url", "company_id", "public_key")}
            config |= {"private_key": creds["private_key"], "client_id": creds["client_id"]}
            # the callback refreshes a ticket within a second; the poll is the safety net
            found = await connections.create(
                session,
                ring,
                data=ConnectionCreate(connector="connectwise", name=CONNECTION_NAME, config=config),
            )
            await audit.record(
                session,
                actor=DEMO_ACTOR,
                action="connection.create",
                target_type="connection",
                target_id=found.id,
                after={"connector": "connectwise", "name": CONNECTION_NAME},
            )
        await connections.confirm_client(
            session, connection=found, vendor_external_id=str(company["id"]), client_id=client.id
        )
        connection: Connection = found
        setup = DemoSetup(
            tenant_id=tid,
            client_id=client.id,
            client_name=client.name,
            connection_id=connection.id,
            company_id=str(company["id"]),
            contact_ids=[str(pid) for pid, p in sorted(sim.contacts.items()) if p["company"]["id"] == company["id"]],
        )
        hook_url = public_url.rstrip("/") + connections.webhook_path(connection)
        connector = await connections.open_connector(session, ring, connection)
    async with connector:
        assert isinstance(connector, WebhooksCapability)
        if not any(cb.get("url") == hook_url for cb in sim.callbacks.values()):
            await connector.register_webhook(hook_url, connection.hook_path)
    rt = sync_runtime.ensure(db, keys)
    await polling.poll_connection(rt, setup.connection_id, full=True, **rt.connector_options)
    return setup


async def file_ticket(
    db: Database, keys: KeyringProvider, setup: DemoSetup, ticket: ScriptedTicket, *, contact: str | None = None
) -> str:
    """File ``ticket`` in the simulator through its REST API, as the PSA's e-mail intake would;
    returns the vendor ticket id. The simulator's callback then tells MSPclaw."""
    async with tenant_session(db.sessions, setup.tenant_id) as session:
        connection = await connections.get_or_raise(session, connection_id=setup.connection_id)
        connector = await connections.open_connector(session, keys.current(), connection)
    async with connector:
        assert isinstance(connector, TicketsCapability)
        created = await connector.create_ticket(
            TicketCreate(
                subject=ticket.subject,
                description=ticket.description,
                client_external_id=setup.company_id,
                contact_external_id=contact or (setup.contact_ids[0] if setup.contact_ids else None),
            )
        )
    return created.external_id


def filed_subjects(sim: ConnectWiseSimulator) -> set[str]:
    """Subjects already in the simulator (a restart does not file a scripted ticket twice)."""
    with sim.lock:
        return {str(t.get("summary")) for t in sim.tickets.values()}


async def play_script(
    db: Database,
    keys: KeyringProvider,
    setup: DemoSetup,
    sim: ConnectWiseSimulator,
    *,
    script: Sequence[ScriptedTicket] = SCRIPT,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_filed: Callable[[ScriptedTicket, str], None] | None = None,
) -> list[str]:
    """File the scripted tickets at their times (skipping those filed on an earlier start)."""
    done = filed_subjects(sim)
    filed: list[str] = []
    elapsed = 0.0
    for index, ticket in enumerate(script):
        if ticket.subject in done:
            continue
        await sleep(max(0.0, ticket.after - elapsed))
        elapsed = max(elapsed, ticket.after)
        contact = setup.contact_ids[index % len(setup.contact_ids)] if setup.contact_ids else None
        external_id = await file_ticket(db, keys, setup, ticket, contact=contact)
        filed.append(external_id)
        if on_filed is not None:
            on_filed(ticket, external_id)
    return filed


# ------------------------------------------------------------------ the demo device's agent


@dataclass
class DemoAgent:
    """The local endpoint agent enrolled for the demo client."""

    device_id: uuid.UUID
    state_dir: Path
    sandbox: Path | None


def sandbox_supported() -> bool:
    """Whether this machine can give the agent private temp folders (Linux mount namespaces)."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],  # noqa: S607 - fixed argv
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def _installation_under_tmp() -> str:
    """The folder holding this installation (virtualenv and the agent package) when it lies below
    /tmp, which the sandbox covers; "" when it lies elsewhere."""
    import mspclaw_agent

    paths = [Path(sys.prefix).resolve(), Path(mspclaw_agent.__file__).resolve().parent]
    if not all(p.is_relative_to("/tmp") for p in paths):  # noqa: S108 - the folder the sandbox covers
        return ""
    return os.path.commonpath([str(p) for p in paths])


def _agent_argv(agent: DemoAgent, *args: str) -> list[str]:
    """The agent command line; in the sandbox its /tmp, /var/tmp and home are demo folders, so
    approving the demo's temp clean-up touches nothing of yours."""
    if agent.sandbox is None:
        return [str(AGENT_BIN), "--state-dir", str(agent.state_dir), *args]
    box = agent.sandbox
    inner = [str(AGENT_BIN), "--state-dir", "/tmp/agent-state", *args]  # noqa: S108 - inside the sandbox
    # bind /var/tmp first: once /tmp is covered, a sandbox folder below /tmp is out of sight. An
    # installation below /tmp (a CI checkout) is bound back read-only at its own path from the
    # working directory, which still points at the host's folder once /tmp is covered (mount must
    # not canonicalise "." into the covered path); read-only, so the clean-up cannot touch it.
    script = (
        'H="$2"; if [ -n "$H" ]; then cd "$H" || exit 1; fi; '
        'mount --bind "$1/var-tmp" /var/tmp && mount --bind "$1/tmp" /tmp && '
        'if [ -n "$H" ]; then mkdir -p "$H" && mount --no-canonicalize --bind . "$H" && '
        'mount -o remount,bind,ro "$H" && cd /; fi && '
        'mkdir -p /tmp/home && export HOME=/tmp/home TMPDIR=/tmp && shift 2 && exec "$@"'
    )
    unshare = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    return [*unshare, "sh", "-c", script, "sh", str(box), _installation_under_tmp(), *inner]


def demo_agent_dirs(data_dir: Path, *, sandbox: bool) -> DemoAgent:
    """Where the demo agent keeps its state (inside the sandbox when there is one)."""
    root = data_dir / "demo" / "device"
    if sandbox:
        for sub in ("tmp", "var-tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return DemoAgent(uuid.UUID(int=0), root / "tmp" / "agent-state", root)
    root.mkdir(parents=True, exist_ok=True)
    return DemoAgent(uuid.UUID(int=0), root / "agent-state", None)


async def _run(argv: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(errors="replace")


async def ensure_demo_agent(
    db: Database, setup: DemoSetup, *, server_url: str, data_dir: Path, sandbox: bool | None = None
) -> DemoAgent:
    """Enrol the local agent for the demo client once (a restart reuses its enrolment)."""
    from mspclaw.agents.models import TokenCreate
    from mspclaw.agents.service import create_token

    agent = demo_agent_dirs(data_dir, sandbox=sandbox_supported() if sandbox is None else sandbox)
    state = agent.state_dir / "state.json"
    if state.exists():
        device_id = uuid.UUID(str(json.loads(state.read_text())["device_id"]))
        async with tenant_session(db.sessions, setup.tenant_id) as session:
            device = await session.get(Device, device_id)
        if device is not None and device.client_id == setup.client_id:
            agent.device_id = device_id
            return agent
        shutil.rmtree(agent.state_dir)  # enrolled against another database: enrol again
    async with tenant_session(db.sessions, setup.tenant_id) as session, session.begin():
        _token, plain = await create_token(
            session,
            data=TokenCreate(client_id=setup.client_id, name="demo device", expires_in_hours=1, max_uses=1),
            created_by=DEMO_ACTOR.name,
        )
        await audit.record(
            session,
            actor=DEMO_ACTOR,
            action="agent_token.create",
            target_type="agent_token",
            target_id=_token.id,
            after={"client": setup.client_name, "max_uses": 1},
        )
    agent.state_dir.mkdir(parents=True, exist_ok=True)
    code, out = await _run(_agent_argv(agent, "enroll", "--server", server_url, f"--token={plain}"))
    if code != 0:
        raise RuntimeError(f"the demo agent could not enrol: {out.strip()[-500:]}")
    agent.device_id = uuid.UUID(str(json.loads(state.read_text())["device_id"]))
    return agent


async def start_agent(agent: DemoAgent) -> asyncio.subprocess.Process:
    """Start the agent process (its own process group; stop it with :func:`stop_agent`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return await asyncio.create_subprocess_exec(
        *_agent_argv(agent, "run", "--min-backoff", "0.2", "--max-backoff", "2"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


async def stop_agent(proc: asyncio.subprocess.Process) -> None:
    """Stop the agent process group started by :func:`start_agent`."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            os.killpg(proc.pid, 9)
            await proc.wait()


# ------------------------------------------------------------------ mspclaw up --demo


def banner(settings_base_url: str, sim_url: str, setup: DemoSetup, agent: DemoAgent) -> str:
    """What to open and what to do, printed once the demo is ready."""
    lines = [
        "[bold green]Demo ready[/]: a ConnectWise simulator, the demo client "
        f"[bold]{setup.client_name}[/] (auto-run read-only steps, changes need approval) and a local agent.",
        f"  1. Open {settings_base_url}/tickets and sign in; tickets arrive over the next minute:",
        *[f"       after {t.after:>2.0f}s  {t.subject!r}: {t.expect}" for t in SCRIPT],
        f"  2. Approve the waiting step at {settings_base_url}/approvals (or reject it to see an escalation).",
        "  3. Open the ticket: the note MSPclaw wrote back to the PSA is under 'Notes in the PSA'.",
        f"  The simulated PSA: {sim_url}/_sim/docs (GET /_sim/tickets/ID/notes shows the notes there).",
        f"  Demo device {agent.device_id}: "
        + (
            "sandboxed (its /tmp, /var/tmp and home are demo folders)."
            if agent.sandbox is not None
            else "runs on this machine; approving the clean-up deletes temp files older than 3 days here."
        ),
    ]
    return "\n".join(lines)


def _report_failure(task: asyncio.Task[Any], say: Callable[[str], None]) -> None:
    """A ticket script that stopped early says why (the demo itself keeps running)."""
    if not task.cancelled() and task.exception() is not None:
        say(f"[bold red]the demo's ticket script stopped:[/] {task.exception()!r}")


async def _autosave(sim: ConnectWiseSimulator, state_file: Path, every: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(save_simulator, sim, state_file)


async def serve(
    database: Database,
    server: Any,
    *,
    data_dir: Path,
    base_url: str,
    master_key: str | None,
    sim_port: int,
    say: Callable[[str], None],
) -> None:
    """Run the demo beside ``server`` (a uvicorn.Server of the app on ``database``) until it stops."""
    from mspclaw.connectors.simulator import ServedApp

    state_file = data_dir / "demo" / "connectwise.json"
    sim = new_simulator(state_file)
    try:
        served = ServedApp(sim.app(), port=sim_port).start()
    except (RuntimeError, OSError) as exc:
        raise DemoUnavailable(
            f"the demo's PSA simulator cannot listen on port {sim_port} ({exc}); choose a free one with --demo-sim-port"
        ) from None
    # uvicorn re-raises the stop signal after shutting down; with the default SIGTERM action the
    # process would end there and leave the agent running, so a stop only asks for an exit
    previous = signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve())
    helpers: list[asyncio.Task[Any]] = []
    agent_proc: asyncio.subprocess.Process | None = None
    try:
        while not server.started:
            if serving.done():
                serving.result()
                return
            await asyncio.sleep(0.05)
        keys = KeyringProvider(master_key, data_dir)
        setup = await ensure_demo(database, keys, sim=sim, sim_url=served.url, public_url=base_url)
        agent = await ensure_demo_agent(database, setup, server_url=base_url, data_dir=data_dir)
        agent_proc = await start_agent(agent)
        say(banner(base_url, served.url, setup, agent))

        def filed(ticket: ScriptedTicket, external_id: str) -> None:
            say(f"[cyan]PSA ticket #{external_id} filed:[/] {ticket.subject}")

        script = asyncio.create_task(play_script(database, keys, setup, sim, on_filed=filed))
        script.add_done_callback(lambda task: _report_failure(task, say))
        helpers.append(script)
        helpers.append(asyncio.create_task(_autosave(sim, state_file)))
        await serving
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if agent_proc is not None:
            await stop_agent(agent_proc)
        save_simulator(sim, state_file)
        served.stop()
        signal.signal(signal.SIGTERM, previous)
