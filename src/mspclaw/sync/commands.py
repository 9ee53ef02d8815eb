"""``mspclaw connection …``: add (tested before saving; secrets to the vault), list, show,
delete, map statuses/priorities, review unmapped values, confirm client links, sync now."""

from __future__ import annotations

import uuid
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.sync.models import ConnectionCreate, Mappings

connection_app = typer.Typer(
    help="Connections to PSA/RMM instances (SuperOps, ConnectWise, NinjaOne …).", no_args_is_help=True
)

URL_FIELDS = ("api_url", "site_url", "base_url")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    from mspclaw.cli import fail

    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{what} must look like KEY=VALUE (got {item!r})")
        out[key.strip()] = value
    return out


async def _find(session: AsyncSession, ref: str) -> Any:
    from mspclaw.errors import NotFound
    from mspclaw.sync import service
    from mspclaw.sync.models import Connection

    try:
        found = await service.get(session, connection_id=uuid.UUID(ref))
    except ValueError:
        found = await session.scalar(select(Connection).where(Connection.name == ref))
    if found is None:
        raise NotFound(f"no connection {ref!r} (see 'mspclaw connection list')")
    return found


@connection_app.command("add")
def connection_add(
    connector: str = typer.Argument(..., help="Connector name: superops, connectwise, ninjaone, …"),
    name: str = typer.Option(..., "--name", help="A name for this instance, e.g. 'Main PSA'."),
    base_url: str | None = typer.Option(None, "--base-url", help="The vendor API URL (api_url/site_url/base_url)."),
    setting: list[str] = typer.Option([], "--set", help="A non-secret setting KEY=VALUE (repeatable)."),
    secret: list[str] = typer.Option(
        [], "--secret", help="A secret setting KEY=VALUE, stored in the vault (repeatable)."
    ),
    poll_interval: int = typer.Option(300, help="Seconds between polls."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id."),
) -> None:
    """Test the settings against the vendor, then save the connection (nothing is saved on failure).

    Example: mspclaw connection add superops --name "SuperOps" --base-url https://api.superops.ai/msp
    --set subdomain=acme --secret api_token=…
    """
    from mspclaw.cli import console, open_database, run, tenant_scope
    from mspclaw.config import get_settings
    from mspclaw.connectors.registry import get_connector
    from mspclaw.sync import service
    from mspclaw.vault.keys import load_keyring

    config: dict[str, Any] = {**_pairs(setting, "--set"), **_pairs(secret, "--secret")}
    if base_url:
        props = get_connector(connector).spec().config_schema.get("properties", {})
        field = next((f for f in URL_FIELDS if f in props), None)
        config[field or "base_url"] = base_url

    async def main() -> None:
        settings = get_settings()
        ring = load_keyring(settings.master_key, settings.data_dir)
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            data = ConnectionCreate(connector=connector, name=name, config=config, poll_interval_seconds=poll_interval)
            connection = await service.create(session, ring, data=data)
            console.print(f"[green]connection {connection.name} saved[/] ({connection.id})")
            console.print(f"webhook path (configure at the vendor if it pushes): {service.webhook_path(connection)}")

    run(main)


@connection_app.command("list")
def connection_list(
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List connections with their last poll and last error."""
    from mspclaw.cli import open_database, print_rows, run, tenant_scope
    from mspclaw.sync import service

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            rows = [service.to_read(c).model_dump(mode="json") for c in await service.list_all(session)]
        print_rows(rows, ["id", "name", "connector", "enabled", "last_poll_at", "last_error"], as_json, "Connections")

    run(main)


@connection_app.command("delete")
def connection_delete(
    ref: str = typer.Argument(..., help="Connection id or name."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
) -> None:
    """Delete a connection, its vault secrets and its mirrored tickets."""
    from mspclaw.cli import console, open_database, run, tenant_scope
    from mspclaw.sync import service

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            connection = await _find(session, ref)
            await service.delete(session, connection=connection)
        console.print(f"[green]connection {ref} deleted[/]")

    run(main)


@connection_app.command("unmapped")
def connection_unmapped(
    ref: str = typer.Argument(..., help="Connection id or name."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Vendor statuses/priorities seen but not mapped (map them with 'connection map')."""
    from mspclaw.cli import open_database, print_rows, run, tenant_scope
    from mspclaw.sync import service
    from mspclaw.sync.models import UnmappedRead

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            connection = await _find(session, ref)
            rows = [
                UnmappedRead.model_validate(u).model_dump(mode="json")
                for u in await service.list_unmapped(session, connection_id=connection.id)
            ]
        print_rows(rows, ["field", "value", "count", "last_seen", "example_external_id"], as_json, "Unmapped values")

    run(main)


@connection_app.command("map")
def connection_map(
    ref: str = typer.Argument(..., help="Connection id or name."),
    status: list[str] = typer.Option(
        [], "--status", help="'Vendor value=normalised' (new/open/waiting/resolved/closed)."
    ),
    priority: list[str] = typer.Option([], "--priority", help="'Vendor value=normalised' (low/medium/high/critical)."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
) -> None:
    """Add or change status/priority mappings; prints the resulting mapping."""
    from mspclaw.cli import console, open_database, run, tenant_scope
    from mspclaw.sync import service

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            connection = await _find(session, ref)
            current = Mappings.model_validate(connection.mappings or {})
            merged = Mappings.model_validate(
                {
                    **current.model_dump(mode="json"),
                    "status": {**current.status, **_pairs(status, "--status")},
                    "priority": {**current.priority, **_pairs(priority, "--priority")},
                }
            )
            await service.set_mappings(session, connection=connection, mappings=merged)
        console.print_json(merged.model_dump_json())

    run(main)


@connection_app.command("matches")
def connection_matches(
    ref: str = typer.Argument(..., help="Connection id or name."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Proposed vendor company → MSPclaw client links; confirm each with 'connection link'."""
    from mspclaw.cli import open_database, print_rows, run, tenant_scope
    from mspclaw.sync import service

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            connection = await _find(session, ref)
            rows = [p.model_dump(mode="json") for p in await service.propose_clients(session, connection=connection)]
        print_rows(
            rows, ["vendor_external_id", "vendor_name", "client_id", "client_name", "reason"], as_json, "Proposals"
        )

    run(main)


@connection_app.command("link")
def connection_link(
    ref: str = typer.Argument(..., help="Connection id or name."),
    vendor_id: str = typer.Argument(..., help="The vendor's company id."),
    client_id: str = typer.Argument(..., help="The MSPclaw client id."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
) -> None:
    """Confirm that a vendor company is an MSPclaw client."""
    from mspclaw.cli import console, open_database, run, tenant_scope
    from mspclaw.sync import service

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            connection = await _find(session, ref)
            await service.confirm_client(
                session, connection=connection, vendor_external_id=vendor_id, client_id=uuid.UUID(client_id)
            )
        console.print(f"[green]vendor company {vendor_id} linked to client {client_id}[/]")

    run(main)


@connection_app.command("sync")
def connection_sync(
    ref: str = typer.Argument(..., help="Connection id or name."),
    full: bool = typer.Option(False, "--full", help="Re-read everything and detect deleted tickets."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT"),
) -> None:
    """Run one poll now, in this process, and print what changed."""
    from mspclaw.cli import console, open_database, run, tenant_scope
    from mspclaw.config import get_settings
    from mspclaw.sync import polling, runtime
    from mspclaw.vault.keys import KeyringProvider

    async def main() -> None:
        settings = get_settings()
        async with open_database() as db:
            async with tenant_scope(db, tenant) as (session, _t):
                connection = await _find(session, ref)
            rt = runtime.install(db, KeyringProvider(settings.master_key, settings.data_dir))
            result = await polling.poll_connection(rt, connection.id, full=full)
        console.print_json(result.model_dump_json())

    run(main)
