"""Routes for connections: create (tested first), list, read, tune, delete, mappings,
client links, the unmapped report, sync-now, and command-mode script runs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.sync import runtime, scripts, service
from mspclaw.sync.models import (
    ClientLinkConfirm,
    ClientMatchRead,
    ConnectionCreate,
    ConnectionRead,
    ConnectionUpdate,
    Mappings,
    ScriptRunCreate,
    ScriptRunRead,
    UnmappedRead,
)
from mspclaw.sync.tasks import request_poll


def _install_runtime(request: Request) -> None:
    # Jobs running in this process (``mspclaw up``) then share the app's database and keys.
    runtime.install(request.app.state.db, request.app.state.keys)


router = APIRouter(tags=["Connections"], responses=PROBLEM_RESPONSES, dependencies=[Depends(_install_runtime)])


@router.post("/connections", response_model=ConnectionRead, status_code=201)
async def create_connection(data: ConnectionCreate, ctx: Ctx = Depends(context("connections.write"))) -> ConnectionRead:
    """Validate the settings, test them against the vendor, and only then save.

    Secret settings go to the vault and are never returned. The answer includes the
    webhook path to configure at the vendor (for connectors that push)."""
    connection = await service.create(ctx.session, ctx.keyring, data=data)
    await ctx.audit(
        "connection.create",
        target_type="connection",
        target_id=connection.id,
        after={"connector": connection.connector, "name": connection.name, "config": connection.config},
    )
    await ctx.commit()
    return service.to_read(connection, show_hook=True)


@router.get("/connections", response_model=list[ConnectionRead])
async def list_connections(ctx: Ctx = Depends(context("connections.read"))) -> list[ConnectionRead]:
    """Every connection of the tenant."""
    return [service.to_read(c) for c in await service.list_all(ctx.session)]


@router.get("/connections/{object_id}", response_model=ConnectionRead)
async def get_connection(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))) -> ConnectionRead:
    """One connection (no secrets)."""
    return service.to_read(await service.get_or_raise(ctx.session, connection_id=object_id))


@router.get("/connections/{object_id}/webhook", response_model=ConnectionRead)
async def get_connection_webhook(
    object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.write"))
) -> ConnectionRead:
    """The connection with its webhook path (a credential: admins only)."""
    return service.to_read(await service.get_or_raise(ctx.session, connection_id=object_id), show_hook=True)


@router.patch("/connections/{object_id}", response_model=ConnectionRead)
async def update_connection(
    object_id: uuid.UUID, data: ConnectionUpdate, ctx: Ctx = Depends(context("connections.write"))
) -> ConnectionRead:
    """Enable/disable or tune polling interval, overlap window and stale threshold."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    await service.update(ctx.session, connection=connection, data=data)
    await ctx.audit(
        "connection.update", target_type="connection", target_id=connection.id, after=data.model_dump(exclude_none=True)
    )
    await ctx.commit()
    service.forget_hook_target(object_id)  # again after the commit: a re-read meanwhile saw the old row
    return service.to_read(connection)


@router.delete("/connections/{object_id}", status_code=204)
async def delete_connection(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.write"))) -> Response:
    """Delete a connection, its vault secrets and its mirrored tickets and alerts."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    await ctx.audit(
        "connection.delete", target_type="connection", target_id=connection.id, before={"name": connection.name}
    )
    await service.delete(ctx.session, connection=connection)
    await ctx.commit()
    service.forget_hook_target(object_id)  # again after the commit: a re-read meanwhile saw the old row
    return Response(status_code=204)


@router.get("/connections/{object_id}/mappings", response_model=Mappings)
async def get_mappings(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))) -> Mappings:
    """Status/priority mappings, queue filter and confirmed client links."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    return Mappings.model_validate(connection.mappings or {})


@router.put("/connections/{object_id}/mappings", response_model=Mappings)
async def put_mappings(
    object_id: uuid.UUID, data: Mappings, ctx: Ctx = Depends(context("connections.write"))
) -> Mappings:
    """Replace the mappings (values newly mapped leave the unmapped report)."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    before = dict(connection.mappings or {})
    await service.set_mappings(ctx.session, connection=connection, mappings=data)
    await ctx.audit(
        "connection.mappings",
        target_type="connection",
        target_id=connection.id,
        before=before,
        after=data.model_dump(mode="json"),
    )
    await ctx.commit()
    return data


@router.get("/connections/{object_id}/unmapped", response_model=list[UnmappedRead])
async def get_unmapped(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))) -> list[UnmappedRead]:
    """Vendor statuses/priorities seen but not mapped (their tickets carry a null mapped value)."""
    await service.get_or_raise(ctx.session, connection_id=object_id)
    return [UnmappedRead.model_validate(u) for u in await service.list_unmapped(ctx.session, connection_id=object_id)]


@router.get("/connections/{object_id}/client-matches", response_model=list[ClientMatchRead])
async def get_client_matches(
    object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))
) -> list[ClientMatchRead]:
    """Proposed vendor company → MSPclaw client links (by domain, then name) to confirm."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    return await service.propose_clients(ctx.session, connection=connection)


@router.post("/connections/{object_id}/client-links", response_model=Mappings)
async def confirm_client_link(
    object_id: uuid.UUID, data: ClientLinkConfirm, ctx: Ctx = Depends(context("connections.write"))
) -> Mappings:
    """Confirm a vendor company → MSPclaw client link."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    await service.confirm_client(
        ctx.session, connection=connection, vendor_external_id=data.vendor_external_id, client_id=data.client_id
    )
    await ctx.audit(
        "connection.client_link", target_type="connection", target_id=connection.id, after=data.model_dump(mode="json")
    )
    await ctx.commit()
    return Mappings.model_validate(connection.mappings)


@router.post("/connections/{object_id}/sync", status_code=202)
async def sync_now(
    object_id: uuid.UUID,
    full: bool = Query(False, description="Re-read everything and detect deleted tickets."),
    ctx: Ctx = Depends(context("connections.write")),
) -> dict[str, bool]:
    """Queue a poll now (a no-op when one is already queued)."""
    await service.get_or_raise(ctx.session, connection_id=object_id)
    queued = await request_poll(ctx.session, object_id, full=full)
    await ctx.commit()
    return {"queued": queued}


@router.post("/connections/{object_id}/scripts", response_model=ScriptRunRead, status_code=201)
async def run_script(
    object_id: uuid.UUID, data: ScriptRunCreate, ctx: Ctx = Depends(context("tools.run.change"))
) -> ScriptRunRead:
    """Command mode: run a saved script on an RMM device; poll the run for its result."""
    connection = await service.get_or_raise(ctx.session, connection_id=object_id)
    run = await scripts.start(ctx.session, ctx.keyring, connection=connection, data=data)
    await ctx.audit("script.run", target_type="script_run", target_id=run.id, after=data.model_dump())
    await ctx.commit()
    return ScriptRunRead.model_validate(run)


@router.get("/script-runs/{object_id}", response_model=ScriptRunRead)
async def get_script_run(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))) -> ScriptRunRead:
    """A script run's status, output and exit code."""
    return ScriptRunRead.model_validate(await scripts.get(ctx.session, run_id=object_id))
