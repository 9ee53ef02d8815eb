"""Routes: a connection's tool → script map for the ``rmm_script`` backend."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.rmm import service
from mspclaw.rmm.models import ScriptMapPut, ScriptMapRead
from mspclaw.sync import service as connections

router = APIRouter(tags=["Connections"], responses=PROBLEM_RESPONSES)


@router.get("/connections/{object_id}/script-map", response_model=ScriptMapRead)
async def get_script_map(object_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))) -> ScriptMapRead:
    """Which vendor script carries out which catalog tool on this RMM connection."""
    connection = await connections.get_or_raise(ctx.session, connection_id=object_id)
    return await service.get_map(ctx.session, connection=connection)


@router.put("/connections/{object_id}/script-map", response_model=ScriptMapRead)
async def put_script_map(
    object_id: uuid.UUID, data: ScriptMapPut, ctx: Ctx = Depends(context("connections.write"))
) -> ScriptMapRead:
    """Replace the map. Each tool must be an endpoint tool of the catalog and every required
    argument must be mapped to a script parameter (422 ``invalid_script_map`` otherwise).

    Script output contract (``output: json``): the script prints one JSON object, the tool's output."""
    connection = await connections.get_or_raise(ctx.session, connection_id=object_id)
    before = await service.get_map(ctx.session, connection=connection)
    saved = await service.put_map(ctx.session, connection=connection, data=data)
    await ctx.audit(
        "connection.script_map",
        target_type="connection",
        target_id=connection.id,
        before=before.model_dump(mode="json")["tools"],
        after=saved.model_dump(mode="json")["tools"],
    )
    await ctx.commit()
    return saved
