"""``mspclaw agent …``: enrolment tokens and device revocation from the command line."""

from __future__ import annotations

import uuid

import typer

agent_app = typer.Typer(help="Endpoint agents: enrolment tokens and revocation.", no_args_is_help=True)
token_app = typer.Typer(help="Enrolment tokens (one per client or site; shown once).", no_args_is_help=True)
agent_app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    client: str = typer.Option(..., "--client", help="Client name or id the devices belong to."),
    site: str = typer.Option(None, "--site", help="Site id (optional)."),
    expires_hours: int = typer.Option(72, help="Hours until the token expires."),
    max_uses: int = typer.Option(1, help="How many devices may enrol with it."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id."),
) -> None:
    """Create an enrolment token; run `mspclaw-agent enroll --server URL --token TOKEN` on the device."""
    from mspclaw.agents.models import TokenCreate
    from mspclaw.agents.service import create_token
    from mspclaw.audit.service import record
    from mspclaw.cli import cli_actor, console, fail, open_database, run, tenant_scope
    from mspclaw.tenancy.service import get_client_by_name_or_id

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            found = await get_client_by_name_or_id(session, client)
            try:
                site_id = uuid.UUID(site) if site else None
            except ValueError:
                fail(f"--site must be a site id, not {site!r}")
            token, plain = await create_token(
                session,
                data=TokenCreate(
                    client_id=found.id, site_id=site_id, expires_in_hours=expires_hours, max_uses=max_uses
                ),
                created_by=cli_actor().name,
            )
            await record(
                session,
                actor=cli_actor(),
                action="agent_token.create",
                target_type="agent_token",
                target_id=token.id,
                after={"client": found.name, "max_uses": max_uses},
            )
        console.print(
            f"[green]enrolment token for {found.name!r}[/] (expires {token.expires_at:%Y-%m-%d %H:%M} UTC,"
            f" {max_uses} use(s)); it is not shown again:"
        )
        print(plain)

    run(main)


@agent_app.command("revoke")
def revoke(
    device: str = typer.Argument(..., help="Device id."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id."),
) -> None:
    """Revoke a device's agent credential and disconnect it from every running gateway."""
    from mspclaw.agents.service import revoke_device
    from mspclaw.audit.service import record
    from mspclaw.cli import cli_actor, console, fail, open_database, run, tenant_scope
    from mspclaw.gateway.pgrouter import PostgresRouter
    from mspclaw.gateway.routing import RoutedDisconnect

    async def main() -> None:
        try:
            device_id = uuid.UUID(device)
        except ValueError:
            fail(f"{device!r} is not a device id")
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            count = await revoke_device(session, device_id=device_id)
            await record(
                session,
                actor=cli_actor(),
                action="agent.revoke",
                target_type="device",
                target_id=device_id,
                detail={"credentials": count},
            )
            # tell every running gateway process to drop the socket now
            router = PostgresRouter(db.libpq_url)
            try:
                await router.publish(device, RoutedDisconnect(origin="cli", device_id=device, reason="revoked"))
            finally:
                await router.close()
        console.print(f"[green]revoked {count} credential(s) of device {device}; it is disconnected[/]")

    run(main)
