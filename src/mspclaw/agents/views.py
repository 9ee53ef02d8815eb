"""Routes for enrolment tokens, agent enrolment, device presence/memory/revocation, asset mapping."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from mspclaw.agents import service
from mspclaw.agents.models import (
    AssetQuery,
    AssetResolution,
    DeviceMemoryFacts,
    EnrollRequest,
    EnrollResponse,
    PresenceRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
)
from mspclaw.api.deps import Ctx, Paging, context, get_db
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.resources import snapshot
from mspclaw.api.schemas import Page
from mspclaw.gateway import GATEWAY_PATH, Gateway
from mspclaw.tenancy.models import Device
from mspclaw.tenancy.service import get_or_raise, page

router = APIRouter(tags=["Agents"])


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


def gateway_url(request: Request) -> str:
    """The WebSocket URL agents should dial: public URL if configured, else how they reached us."""
    settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + GATEWAY_PATH


@router.post("/agents/tokens", response_model=TokenCreated, status_code=201, responses=PROBLEM_RESPONSES)
async def create_token(data: TokenCreate, ctx: Ctx = Depends(context("agents.enroll"))) -> TokenCreated:
    """Create an enrolment token for a client; it is shown in this response only."""
    token, plain = await service.create_token(ctx.session, data=data, created_by=ctx.principal.actor.name)
    after = snapshot(token, TokenRead)
    await ctx.audit("agent_token.create", target_type="agent_token", target_id=token.id, after=after)
    await ctx.commit()
    return TokenCreated(**after, token=plain)


@router.get("/agents/tokens", response_model=Page[TokenRead], responses=PROBLEM_RESPONSES)
async def list_tokens(ctx: Ctx = Depends(context("devices.read")), paging: Paging = Depends()) -> Page[TokenRead]:
    """Enrolment tokens (never the tokens themselves)."""
    from mspclaw.agents.models import EnrollmentToken

    items, total = await page(
        ctx.session,
        EnrollmentToken,
        limit=paging.limit,
        offset=paging.offset,
        order_by=EnrollmentToken.created_at.desc(),
    )
    return Page(
        items=[TokenRead.model_validate(t) for t in items], total=total, limit=paging.limit, offset=paging.offset
    )


@router.delete("/agents/tokens/{object_id}", response_model=TokenRead, responses=PROBLEM_RESPONSES)
async def revoke_token(object_id: uuid.UUID, ctx: Ctx = Depends(context("agents.enroll"))) -> TokenRead:
    """Revoke a token: no further devices can enrol with it."""
    token = await service.revoke_token(ctx.session, token_id=object_id)
    await ctx.audit("agent_token.revoke", target_type="agent_token", target_id=token.id)
    await ctx.commit()
    return TokenRead.model_validate(token)


@router.post("/agents/enroll", response_model=EnrollResponse, status_code=201, responses=PROBLEM_RESPONSES)
async def enroll(data: EnrollRequest, request: Request) -> EnrollResponse:
    """Called by ``mspclaw-agent enroll``: the token authenticates; a device credential comes back."""
    device, credential = await service.enroll(
        get_db(request).sessions, request=data, request_id=getattr(request.state, "request_id", None)
    )
    return EnrollResponse(device_id=str(device.id), device_credential=credential, gateway_url=gateway_url(request))


@router.post("/devices/{object_id}/revoke-agent", response_model=PresenceRead, responses=PROBLEM_RESPONSES)
async def revoke_agent(
    object_id: uuid.UUID, request: Request, ctx: Ctx = Depends(context("agents.revoke"))
) -> PresenceRead:
    """Revoke the device's agent credential and disconnect it at once, wherever it is connected."""
    revoked = await service.revoke_device(ctx.session, device_id=object_id)
    await ctx.audit("agent.revoke", target_type="device", target_id=object_id, detail={"credentials": revoked})
    await ctx.commit()
    await gateway_of(request).disconnect(str(object_id), "revoked")
    return await _presence(ctx, request, object_id)


async def _presence(ctx: Ctx, request: Request, device_id: uuid.UUID) -> PresenceRead:
    device = await get_or_raise(ctx.session, Device, device_id, "device")
    enrolled, revoked = await service.credential_state(ctx.session, device_id=device_id)
    seen = gateway_of(request).presence(str(device_id))
    return PresenceRead(
        device_id=device.id,
        presence=seen.presence.value,
        last_seen_at=seen.last_seen or device.last_seen_at,
        agent_enrolled=enrolled,
        agent_revoked=revoked,
    )


@router.get("/devices/{object_id}/presence", response_model=PresenceRead, responses=PROBLEM_RESPONSES)
async def presence(object_id: uuid.UUID, request: Request, ctx: Ctx = Depends(context("devices.read"))) -> PresenceRead:
    """Online / overdue / offline, and when the device was last seen."""
    return await _presence(ctx, request, object_id)


@router.get("/devices/{object_id}/memory", response_model=DeviceMemoryFacts, responses=PROBLEM_RESPONSES)
async def get_memory(object_id: uuid.UUID, ctx: Ctx = Depends(context("devices.read"))) -> DeviceMemoryFacts:
    """What MSPclaw knows about the device's user (so nobody asks twice)."""
    return DeviceMemoryFacts(**await service.get_memory(ctx.session, device_id=object_id))


@router.patch("/devices/{object_id}/memory", response_model=DeviceMemoryFacts, responses=PROBLEM_RESPONSES)
async def update_memory(
    object_id: uuid.UUID, data: DeviceMemoryFacts, ctx: Ctx = Depends(context("devices.write"))
) -> DeviceMemoryFacts:
    """Record facts about the device's user; omitted fields keep their value."""
    before = await service.get_memory(ctx.session, device_id=object_id)
    facts = await service.remember(ctx.session, device_id=object_id, facts=data.model_dump())
    await ctx.audit("device.memory", target_type="device", target_id=object_id, before=before, after=facts)
    await ctx.commit()
    return DeviceMemoryFacts(**facts)


@router.post("/asset-mapping/resolve", response_model=AssetResolution, responses=PROBLEM_RESPONSES)
async def resolve_asset(query: AssetQuery, ctx: Ctx = Depends(context("devices.read"))) -> AssetResolution:
    """Which device a ticket concerns, with the reason — or the candidates to choose from."""
    return await service.resolve_device(ctx.session, query=query)
