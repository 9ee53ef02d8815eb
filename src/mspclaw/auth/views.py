"""Routes for the signed-in technician, technicians of the tenant, and API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from mspclaw.api.deps import Ctx, Paging, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.resources import snapshot
from mspclaw.api.schemas import Page
from mspclaw.auth import service
from mspclaw.auth.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Technician,
    TechnicianCreate,
    TechnicianCreated,
    TechnicianRead,
    TechnicianUpdate,
    TotpConfirm,
    TotpSetup,
)
from mspclaw.errors import InvalidInput, NotFound
from mspclaw.tenancy.service import get_or_raise, page

router = APIRouter()


async def _me(ctx: Ctx) -> Technician:
    if ctx.principal.technician_id is None:
        raise NotFound("this API key does not belong to a technician")
    return await get_or_raise(ctx.session, Technician, ctx.principal.technician_id, "technician")


@router.get("/me", response_model=TechnicianRead, tags=["Me"], responses=PROBLEM_RESPONSES)
async def get_me(ctx: Ctx = Depends(context("tenant.read"))) -> TechnicianRead:
    """The technician behind this session or API key."""
    return TechnicianRead.model_validate(await _me(ctx))


@router.post("/me/totp", response_model=TotpSetup, tags=["Me"], responses=PROBLEM_RESPONSES)
async def start_totp(ctx: Ctx = Depends(context("tenant.read"))) -> TotpSetup:
    """Start TOTP set-up: scan the returned URI, then confirm with a code."""
    tech = await _me(ctx)
    secret, uri = await service.begin_totp(ctx.session, tech=tech, keyring=ctx.keyring, issuer="MSPclaw")
    await ctx.audit("technician.totp_started", target_type="technician", target_id=tech.id)
    await ctx.commit()
    return TotpSetup(secret=secret, provisioning_uri=uri)


@router.post("/me/totp/confirm", response_model=TechnicianRead, tags=["Me"], responses=PROBLEM_RESPONSES)
async def confirm_totp(data: TotpConfirm, ctx: Ctx = Depends(context("tenant.read"))) -> TechnicianRead:
    """Enable the second factor once a code from the app checks out."""
    tech = await _me(ctx)
    await service.confirm_totp(ctx.session, tech=tech, keyring=ctx.keyring, code=data.code)
    await ctx.audit("technician.totp_enabled", target_type="technician", target_id=tech.id)
    await ctx.commit()
    return TechnicianRead.model_validate(tech)


@router.get(
    "/technicians",
    response_model=Page[TechnicianRead],
    tags=["Technicians"],
    responses=PROBLEM_RESPONSES,
)
async def list_technicians(
    ctx: Ctx = Depends(context("technicians.read")), paging: Paging = Depends()
) -> Page[TechnicianRead]:
    """Technicians of this MSP."""
    items, total = await page(
        ctx.session, Technician, limit=paging.limit, offset=paging.offset, order_by=Technician.email
    )
    return Page(
        items=[TechnicianRead.model_validate(t) for t in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/technicians",
    response_model=TechnicianCreated,
    status_code=201,
    tags=["Technicians"],
    responses=PROBLEM_RESPONSES,
)
async def create_technician(
    data: TechnicianCreate, ctx: Ctx = Depends(context("technicians.write"))
) -> TechnicianCreated:
    """Add a technician; without a password one is generated and returned once."""
    if data.role == "owner":
        ctx.principal.require("technicians.grant_owner")
    tech, generated = await service.create_technician(ctx.session, data=data)
    after = snapshot(tech, TechnicianRead)
    await ctx.audit("technician.create", target_type="technician", target_id=tech.id, after=after)
    await ctx.commit()
    return TechnicianCreated(**after, initial_password=generated)


@router.get(
    "/technicians/{object_id}",
    response_model=TechnicianRead,
    tags=["Technicians"],
    responses=PROBLEM_RESPONSES,
)
async def get_technician(object_id: uuid.UUID, ctx: Ctx = Depends(context("technicians.read"))) -> TechnicianRead:
    """One technician."""
    return TechnicianRead.model_validate(await get_or_raise(ctx.session, Technician, object_id, "technician"))


@router.patch(
    "/technicians/{object_id}",
    response_model=TechnicianRead,
    tags=["Technicians"],
    responses=PROBLEM_RESPONSES,
)
async def update_technician(
    object_id: uuid.UUID, data: TechnicianUpdate, ctx: Ctx = Depends(context("technicians.write"))
) -> TechnicianRead:
    """Change name, role, skills or active flag."""
    tech = await get_or_raise(ctx.session, Technician, object_id, "technician")
    before = snapshot(tech, TechnicianRead)
    await service.update_technician(ctx.session, tech=tech, data=data, by=ctx.principal)
    after = snapshot(tech, TechnicianRead)
    await ctx.audit("technician.update", target_type="technician", target_id=tech.id, before=before, after=after)
    await ctx.commit()
    return TechnicianRead.model_validate(tech)


@router.delete("/technicians/{object_id}", status_code=204, tags=["Technicians"], responses=PROBLEM_RESPONSES)
async def remove_technician(object_id: uuid.UUID, ctx: Ctx = Depends(context("technicians.write"))) -> Response:
    """Remove a technician (never the last owner); their API keys are revoked."""
    tech = await get_or_raise(ctx.session, Technician, object_id, "technician")
    if tech.id == ctx.principal.technician_id:
        raise InvalidInput("you cannot remove yourself; ask another admin")
    before = snapshot(tech, TechnicianRead)
    await service.remove_technician(ctx.session, tech=tech, by=ctx.principal)
    await ctx.audit("technician.remove", target_type="technician", target_id=object_id, before=before)
    await ctx.commit()
    return Response(status_code=204)


@router.get("/api-keys", response_model=Page[ApiKeyRead], tags=["API keys"], responses=PROBLEM_RESPONSES)
async def list_api_keys(ctx: Ctx = Depends(context("apikeys.read")), paging: Paging = Depends()) -> Page[ApiKeyRead]:
    """API keys of this tenant (never their secrets)."""
    from mspclaw.auth.models import ApiKey

    items, total = await page(
        ctx.session,
        ApiKey,
        limit=paging.limit,
        offset=paging.offset,
        order_by=ApiKey.created_at.desc(),
    )
    return Page(
        items=[ApiKeyRead.model_validate(k) for k in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    tags=["API keys"],
    responses=PROBLEM_RESPONSES,
)
async def create_api_key(data: ApiKeyCreate, ctx: Ctx = Depends(context("apikeys.write"))) -> ApiKeyCreated:
    """Create a scoped API key. The key is in this response only: store it now."""
    key, plain = await service.create_api_key(ctx.session, data=data, creator=ctx.principal)
    after = snapshot(key, ApiKeyRead)
    await ctx.audit("apikey.create", target_type="api_key", target_id=key.id, after=after)
    await ctx.commit()
    return ApiKeyCreated(**after, key=plain)


@router.delete(
    "/api-keys/{object_id}",
    response_model=ApiKeyRead,
    tags=["API keys"],
    responses=PROBLEM_RESPONSES,
)
async def revoke_api_key(object_id: uuid.UUID, ctx: Ctx = Depends(context("apikeys.write"))) -> ApiKeyRead:
    """Revoke a key at once; requests with it fail from now on."""
    key = await service.revoke_api_key(ctx.session, key_id=object_id)
    await ctx.audit("apikey.revoke", target_type="api_key", target_id=key.id)
    await ctx.commit()
    return ApiKeyRead.model_validate(key)
