"""The ``mspclaw`` command line: one typer app, each domain contributing its sub-commands.

Commands that touch data open the configured database (embedded unless
``MSPCLAW_DATABASE_URL`` is set), bring its schema up to date, and record audit events as
actor ``system:cli``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import logging as mlogging
from mspclaw.audit import service as audit
from mspclaw.audit.service import Actor
from mspclaw.auth import service as auth
from mspclaw.auth.models import ApiKeyCreate, Technician, TechnicianCreate, TechnicianUpdate
from mspclaw.auth.permissions import Role, permissions_for
from mspclaw.auth.principal import Principal
from mspclaw.config import get_settings
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.tenancy import service as tenancy
from mspclaw.tenancy.models import Client, ClientCreate, Tenant
from mspclaw.tenancy.policy import ClientPolicy, ClientStack

T = TypeVar("T")

app = typer.Typer(
    name="mspclaw",
    help="MSPclaw: triage, resolve and automate MSP tickets above your PSA and RMM.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
console = Console()
err = Console(stderr=True)

TENANT_OPT = typer.Option(
    None,
    "--tenant",
    "-t",
    envvar="MSPCLAW_TENANT",
    help="Tenant slug or id (defaults to the only tenant when there is just one).",
)
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")


def fail(message: str, code: int = 1) -> None:
    """Print an actionable error and exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(message)}")  # a message is text, never markup
    raise typer.Exit(code)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning domain errors into clean exits."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except MSPclawError as exc:
        fail(exc.message)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())
        fail(f"invalid input: {problems}")
    raise AssertionError("unreachable")


@asynccontextmanager
async def open_database(migrate: bool = True) -> AsyncIterator[Database]:
    """The configured database, migrated, closed afterwards."""
    settings = get_settings()
    mlogging.configure("WARNING", settings.effective_log_format)
    db = Database.open(settings, pool_size=2)
    try:
        if migrate:
            await db.migrate()
        yield db
    finally:
        await db.close()


def cli_actor() -> Actor:
    return Actor("system", "cli", f"cli:{getpass.getuser()}")


async def resolve_tenant(session: AsyncSession, ref: str | None) -> Tenant:
    """The tenant named by --tenant, or the only one."""
    if ref:
        return await tenancy.get_tenant_by_slug_or_id(session, ref)
    tenants = await tenancy.list_tenants(session)
    if len(tenants) == 1:
        return tenants[0]
    if not tenants:
        fail("no tenant exists yet; create one with 'mspclaw tenant create NAME --owner-email EMAIL'")
    fail("several tenants exist; choose one with --tenant SLUG (see 'mspclaw tenant list')")
    raise AssertionError("unreachable")


@asynccontextmanager
async def tenant_scope(db: Database, ref: str | None) -> AsyncIterator[tuple[AsyncSession, Tenant]]:
    """A transaction bound to the chosen tenant; committed when the block succeeds."""
    async with tenant_session(db.sessions, None) as probe:
        tenant = await resolve_tenant(probe, ref)
    async with tenant_session(db.sessions, tenant.id) as session, session.begin():
        yield session, tenant


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str) -> None:
    """Rows as a rich table, or as JSON lines for scripts."""
    if as_json:
        console.print_json(json.dumps(list(rows), default=str))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)


# ------------------------------------------------------------------ up / worker / db


@app.command()
def up(
    host: str = typer.Option(None, help="Address to listen on (default MSPCLAW_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default MSPCLAW_PORT or 8000)."),
    worker: bool = typer.Option(True, help="Run a job worker inside this process."),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Also start a ConnectWise simulator, a demo client, a local endpoint agent and a script of "
        "tickets, so the whole loop (ticket, triage, run, approval, note back in the PSA) can be watched.",
    ),
    demo_sim_port: int = typer.Option(
        None, "--demo-sim-port", help="Port of the demo's PSA simulator (default: the API port + 1)."
    ),
) -> None:
    """Start MSPclaw: database (embedded unless MSPCLAW_DATABASE_URL is set), migrations, API, console, worker.

    On the first start it creates a tenant and an owner and prints the owner's one-time password.
    With --demo it sets up (once) and runs the demo beside it; see the printed steps.
    """
    import uvicorn

    from mspclaw.app import create_app
    from mspclaw.bootstrap import ensure_first_tenant

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    mlogging.configure(settings.log_level, settings.effective_log_format)

    async def main() -> None:
        db = Database.open(settings)
        try:
            await db.migrate()
            creds = await ensure_first_tenant(db.sessions)
            where = "embedded PostgreSQL in " + str(settings.data_dir) if db.embedded else "external PostgreSQL"
            console.print(f"[bold green]MSPclaw is starting[/] ({where})")
            console.print(f"Console: [link]{settings.base_url}/[/link]   API docs: {settings.base_url}/docs")
            if creds:
                console.print(
                    "[bold]First admin (shown once, change it after signing in):[/]\n"
                    f"  e-mail:   {creds.email}\n  password: {creds.password}"
                )
            elif demo:
                console.print("Sign in with the admin e-mail and password printed on the first start.")
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(settings, database=db, run_worker=worker),
                    host=settings.host,
                    port=settings.port,
                    log_config=None,
                    access_log=False,
                    lifespan="on",
                )
            )
            if not demo:
                await server.serve()
                return
            from mspclaw import demo as demo_mode

            await demo_mode.serve(
                db,
                server,
                data_dir=settings.data_dir,
                base_url=settings.base_url,
                master_key=settings.master_key,
                sim_port=demo_sim_port or settings.port + 1,
                say=console.print,
            )
        finally:
            await db.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except MSPclawError as exc:  # e.g. the demo's simulator port is taken
        fail(exc.message)


@app.command()
def worker(
    concurrency: int = typer.Option(None, help="Jobs run at once (default MSPCLAW_WORKER_CONCURRENCY)."),
    queue: list[str] = typer.Option(None, "--queue", "-q", help="Only these queues (repeatable)."),
) -> None:
    """Run job workers alone (scale out by running this on several machines)."""
    from mspclaw import jobs

    settings = get_settings()
    mlogging.configure(settings.log_level, settings.effective_log_format)

    async def main() -> None:
        from mspclaw.agents.gateway_wiring import DatabaseDeviceAuthenticator
        from mspclaw.agents.runtime_wiring import install_executor_backends
        from mspclaw.gateway import Gateway
        from mspclaw.gateway.pgrouter import PostgresRouter
        from mspclaw.sync import runtime as sync_runtime
        from mspclaw.vault.keys import KeyringProvider

        async with open_database() as db:
            # dispatch-only: commands reach the API process that holds the device's socket
            gateway = Gateway(DatabaseDeviceAuthenticator(db.sessions), router=PostgresRouter(db.libpq_url))
            await gateway.start()
            install_executor_backends(db, settings, gateway)
            sync_runtime.ensure(db, KeyringProvider(settings.master_key, settings.data_dir))
            job_app = jobs.bind(db.libpq_url)
            async with job_app.open_async():
                options: dict[str, Any] = {"concurrency": concurrency or settings.worker_concurrency}
                if queue:
                    options["queues"] = queue
                try:
                    await job_app.run_worker_async(**options)
                finally:
                    await gateway.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""

    async def main() -> None:
        async with open_database(migrate=True):
            console.print("[green]database schema is up to date[/]")

    run(main)


# ------------------------------------------------------------------ tenants

tenant_app = typer.Typer(help="MSP tenants (one per MSP using this install).", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")


@tenant_app.command("create")
def tenant_create(
    name: str = typer.Argument(..., help="The MSP's name, e.g. 'Acme IT'."),
    owner_email: str = typer.Option(..., "--owner-email", help="E-mail of the first owner."),
    owner_name: str = typer.Option("Owner", "--owner-name", help="Name of the first owner."),
    slug: str = typer.Option(None, help="Short id (default derived from the name)."),
) -> None:
    """Create a tenant and its first owner; prints the owner's one-time password."""
    from mspclaw.bootstrap import create_tenant_with_owner

    async def main() -> None:
        async with open_database() as db:
            creds = await create_tenant_with_owner(
                db.sessions,
                name=name,
                owner_email=owner_email,
                owner_name=owner_name,
                slug=slug,
                actor=cli_actor(),
            )
        console.print(
            f"[green]tenant {creds.tenant} created[/]\nowner {creds.email}, one-time password: {creds.password}"
        )

    run(main)


@tenant_app.command("list")
def tenant_list(as_json: bool = JSON_OPT) -> None:
    """List tenants."""

    async def main() -> None:
        async with open_database() as db, tenant_session(db.sessions, None) as session:
            rows = [
                {"id": t.id, "slug": t.slug, "name": t.name, "created": t.created_at}
                for t in await tenancy.list_tenants(session)
            ]
        print_rows(rows, ["slug", "name", "id", "created"], as_json, "Tenants")

    run(main)


# ------------------------------------------------------------------ clients

client_app = typer.Typer(help="Clients (the companies your MSP serves).", no_args_is_help=True)
app.add_typer(client_app, name="client")


@client_app.command("create")
def client_create(
    name: str = typer.Argument(..., help="Client company name."),
    domain: str = typer.Option(None, help="Primary e-mail domain, e.g. acme.com."),
    policy_file: Path = typer.Option(None, "--policy", exists=True, dir_okay=False, help="Policy JSON file."),
    stack_file: Path = typer.Option(None, "--stack", exists=True, dir_okay=False, help="Stack JSON file."),
    tenant: str = TENANT_OPT,
) -> None:
    """Create a client, optionally with policy and stack documents (validated)."""

    def load(path: Path | None) -> dict[str, Any]:
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}")
        if not isinstance(data, dict):
            fail(f"{path} must hold a JSON object")
        return data  # type: ignore[no-any-return]

    async def main() -> None:
        data = ClientCreate(
            name=name,
            domain=domain,
            policy=ClientPolicy(**load(policy_file)),
            stack=ClientStack(**load(stack_file)),
        )
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            client = await tenancy.create_client(session, data=data)
            await audit.record(
                session,
                actor=cli_actor(),
                action="client.create",
                target_type="client",
                target_id=client.id,
                after={"name": client.name, "domain": client.domain},
            )
        console.print(f"[green]client {client.name!r} created[/] ({client.id})")

    run(main)


@client_app.command("list")
def client_list(tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """List clients of a tenant."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            clients = (await session.scalars(select(Client).order_by(Client.name))).all()
            rows = [
                {
                    "id": c.id,
                    "name": c.name,
                    "domain": c.domain,
                    "auto_run": c.policy.get("auto_run"),
                }
                for c in clients
            ]
        print_rows(rows, ["name", "domain", "auto_run", "id"], as_json, "Clients")

    run(main)


# ------------------------------------------------------------------ technicians

tech_app = typer.Typer(help="Technicians (people at the MSP) and their roles.", no_args_is_help=True)
app.add_typer(tech_app, name="tech")
ROLE_HELP = "Role: owner, admin, engineer, approver or viewer."


@tech_app.command("add")
def tech_add(
    email: str = typer.Argument(..., help="Technician's e-mail (their sign-in)."),
    name: str = typer.Option(..., help="Display name."),
    role: Role = typer.Option(Role.ENGINEER, help=ROLE_HELP),
    skills: str = typer.Option("", help="Comma-separated skills, e.g. 'm365,networking'."),
    tenant: str = TENANT_OPT,
) -> None:
    """Add a technician; prints a one-time password."""

    async def main() -> None:
        data = TechnicianCreate(
            email=email,
            name=name,
            role=role,
            skills=[s.strip() for s in skills.split(",") if s.strip()],
        )
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            tech, password = await auth.create_technician(session, data=data)
            await audit.record(
                session,
                actor=cli_actor(),
                action="technician.create",
                target_type="technician",
                target_id=tech.id,
                after={"email": tech.email, "role": tech.role},
            )
        console.print(f"[green]technician {tech.email} added as {tech.role}[/]\none-time password: {password}")

    run(main)


@tech_app.command("list")
def tech_list(tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """List technicians of a tenant."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            techs = (await session.scalars(select(Technician).order_by(Technician.email))).all()
            rows = [
                {
                    "id": t.id,
                    "email": t.email,
                    "name": t.name,
                    "role": t.role,
                    "active": t.active,
                    "totp": t.totp_enabled,
                }
                for t in techs
            ]
        print_rows(rows, ["email", "name", "role", "active", "totp", "id"], as_json, "Technicians")

    run(main)


@tech_app.command("remove")
def tech_remove(email: str = typer.Argument(..., help="E-mail or id."), tenant: str = TENANT_OPT) -> None:
    """Remove a technician (never the last owner); revokes their API keys."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            tech = await auth.get_technician(session, ref=email)
            await auth.remove_technician(session, tech=tech, by=None)
            await audit.record(
                session,
                actor=cli_actor(),
                action="technician.remove",
                target_type="technician",
                target_id=tech.id,
                before={"email": tech.email, "role": tech.role},
            )
        console.print(f"[green]technician {email} removed[/]")

    run(main)


@tech_app.command("set-role")
def tech_set_role(
    email: str = typer.Argument(..., help="E-mail or id."),
    role: Role = typer.Argument(..., help=ROLE_HELP),
    tenant: str = TENANT_OPT,
) -> None:
    """Change a technician's role (the last owner keeps theirs)."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            tech = await auth.get_technician(session, ref=email)
            before = tech.role
            await auth.update_technician(session, tech=tech, data=TechnicianUpdate(role=role), by=None)
            await audit.record(
                session,
                actor=cli_actor(),
                action="technician.update",
                target_type="technician",
                target_id=tech.id,
                before={"role": before},
                after={"role": tech.role},
            )
        console.print(f"[green]{email} is now {role.value}[/]")

    run(main)


# ------------------------------------------------------------------ API keys

apikey_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Argument(..., help="What the key is for, e.g. 'PSA webhook relay'."),
    owner: str = typer.Option(..., "--as", help="E-mail of the technician the key acts for."),
    scopes: str = typer.Option(None, help="Comma-separated permissions (default: all of the technician's)."),
    expires_days: int = typer.Option(90, help="Days until the key expires."),
    tenant: str = TENANT_OPT,
) -> None:
    """Create an API key and print it once."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            tech = await auth.get_technician(session, ref=owner)
            creator = Principal(
                tenant_id=tech.tenant_id,
                actor=cli_actor(),
                permissions=permissions_for(tech.role),
                role=tech.role,
                technician_id=tech.id,
            )
            data = ApiKeyCreate(
                name=name,
                expires_in_days=expires_days,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()] if scopes else None,
            )
            key, plain = await auth.create_api_key(session, data=data, creator=creator)
            await audit.record(
                session,
                actor=cli_actor(),
                action="apikey.create",
                target_type="api_key",
                target_id=key.id,
                after={"name": key.name, "scopes": key.scopes},
            )
        console.print(f"[green]API key {key.name!r} created[/] (id {key.id}); store it now, it is not shown again:")
        print(plain)

    run(main)


@apikey_app.command("list")
def apikey_list(tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """List API keys (never their secrets)."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            rows = [
                {
                    "id": k.id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "expires": k.expires_at,
                    "last_used": k.last_used_at,
                    "revoked": k.revoked_at,
                }
                for k in await auth.list_api_keys(session)
            ]
        print_rows(rows, ["name", "prefix", "expires", "last_used", "revoked", "id"], as_json, "API keys")

    run(main)


@apikey_app.command("revoke")
def apikey_revoke(key_id: str = typer.Argument(..., help="The key's id."), tenant: str = TENANT_OPT) -> None:
    """Revoke an API key at once."""

    async def main() -> None:
        try:
            parsed = uuid.UUID(key_id)
        except ValueError:
            fail(f"{key_id!r} is not a key id; see 'mspclaw apikey list'")
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            key = await auth.revoke_api_key(session, key_id=parsed)
            await audit.record(
                session,
                actor=cli_actor(),
                action="apikey.revoke",
                target_type="api_key",
                target_id=key.id,
            )
        console.print(f"[green]API key {key.name!r} revoked[/]")

    run(main)


# ------------------------------------------------------------------ audit

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(50, min=1, max=10_000, help="How many events (newest first)."),
    action: str = typer.Option(None, help="Only actions starting with this text, e.g. 'client.'."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Show recent audit events."""

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            events, _total = await audit.list_events(session, limit=limit, action=action)
            rows = [
                {
                    "seq": e.seq,
                    "time": e.created_at.isoformat(timespec="seconds"),
                    "actor": f"{e.actor_type}:{e.actor_name or e.actor_id or ''}",
                    "action": e.action,
                    "target": f"{e.target_type or ''} {e.target_id or ''}".strip(),
                    "request": e.request_id,
                }
                for e in events
            ]
        print_rows(rows, ["seq", "time", "actor", "action", "target", "request"], as_json, "Audit events")

    run(main)


@audit_app.command("verify")
def audit_verify(
    tenant: str = TENANT_OPT, all_tenants: bool = typer.Option(False, "--all", help="Every tenant.")
) -> None:
    """Recompute the hash chain; exits 1 and names the first broken event if anything was altered."""

    async def main() -> int:
        broken = 0
        async with open_database() as db:
            async with tenant_session(db.sessions, None) as session:
                tenants = (
                    await tenancy.list_tenants(session) if all_tenants else [await resolve_tenant(session, tenant)]
                )
            for t in tenants:
                async with tenant_session(db.sessions, t.id) as session:
                    result = await audit.verify(session, tenant_id=t.id)
                if result.ok:
                    console.print(f"[green]{t.slug}: chain intact[/] ({result.events_checked} events)")
                else:
                    broken += 1
                    console.print(
                        f"[bold red]{t.slug}: TAMPERING DETECTED[/] at event seq {result.first_broken_seq} "
                        f"(id {result.first_broken_id}): {result.reason}"
                    )
        return 1 if broken else 0

    code = run(main)
    if code:
        raise typer.Exit(code)


# ------------------------------------------------------------------ vault

vault_app = typer.Typer(help="The encrypted secret store.", no_args_is_help=True)
app.add_typer(vault_app, name="vault")


@vault_app.command("rotate")
def vault_rotate() -> None:
    """Re-encrypt every secret under a new master key, without downtime.

    With the keyring in the data folder a new key is generated. With MSPCLAW_MASTER_KEY, put the
    new key first (``new-id:base64,old-id:base64``), run this, then drop the old key from the variable.
    """
    from mspclaw.vault.keys import load_keyring
    from mspclaw.vault.service import rotate

    async def main() -> None:
        settings = get_settings()
        ring = load_keyring(settings.master_key, settings.data_dir)
        async with open_database() as db:
            result = await rotate(db.sessions, ring, generate=ring.path is not None)
        console.print(
            f"[green]vault rotated[/]: {result['rotated']} secrets re-encrypted under key {ring.primary_id}, "
            f"{result['retired_keys']} old keys retired"
        )

    run(main)


# --- domain command groups (each domain owns its commands module) ---------------------


def _register_domains() -> None:
    from mspclaw.agents.commands import agent_app
    from mspclaw.connectors.commands import connectors_command, simulate_command
    from mspclaw.loop.commands import stats_command
    from mspclaw.playbooks.commands import playbook_app
    from mspclaw.reasoning.commands import resolve_command
    from mspclaw.runs.commands import runs_app
    from mspclaw.sync.commands import connection_app
    from mspclaw.tools.commands import tools_app
    from mspclaw.triage.commands import embeddings_app, eval_app, triage_command
    from mspclaw.triage.eval_ops import alerts_command, routing_command

    app.command("triage", help="Triage tickets from a JSON-lines file (one JSON result per line).")(triage_command)
    eval_app.command("routing")(routing_command)
    eval_app.command("alerts")(alerts_command)
    app.add_typer(eval_app, name="eval")
    app.add_typer(embeddings_app, name="embeddings")
    app.add_typer(playbook_app, name="playbook")
    app.command("simulate")(simulate_command)
    app.command("connectors")(connectors_command)
    app.add_typer(agent_app, name="agent")
    app.add_typer(tools_app, name="tools")
    app.add_typer(runs_app, name="run")
    app.command("resolve")(resolve_command)
    app.add_typer(connection_app, name="connection")
    app.command("stats")(stats_command)


_register_domains()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
