"""Resolve: a technician's instruction on a ticket becomes a plan, then a run of the same
executor and policy gate as any playbook. The planner proposes; the executor decides.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.usage import RunUsage
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.agents.models import AssetQuery
from mspclaw.agents.service import resolve_device
from mspclaw.audit import service as audit
from mspclaw.auth.principal import Principal
from mspclaw.errors import Conflict, MSPclawError, NotFound
from mspclaw.loop.flows import contact_on_record
from mspclaw.playbooks.loader import LoadedPlaybook, content_hash
from mspclaw.playbooks.models import ClientInfo, Playbook, TicketContext, TicketInfo
from mspclaw.reasoning import store
from mspclaw.reasoning.models import InstructionContext, PlanResult, ProposedPlan
from mspclaw.reasoning.planner import LLMPlanner, UsageHook, plan_instruction
from mspclaw.runs.flows import DryRun, client_fields, dry_run, start_run
from mspclaw.runs.models import Run, RunRead, RunStart
from mspclaw.tenancy.models import Client, Device
from mspclaw.tickets.models import Ticket
from mspclaw.tools import get_tool
from mspclaw.vault.keys import Keyring


class InstructionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1, max_length=2000)
    dry_run: bool = Field(default=False, description="Show the plan and the policy gate's view; run nothing.")
    device_id: uuid.UUID | None = Field(default=None, description="Override the device asset mapping picks.")


class InstructionResult(BaseModel):
    plan: PlanResult
    preview: DryRun | None = None
    run: RunRead | None = None


def plan_to_playbook(plan: ProposedPlan, instruction: str, origin: str = "instruction") -> LoadedPlaybook:
    """An ad-hoc playbook holding exactly the planned calls (its tools are the only allowed ones).

    ``origin`` says what planned it: a technician's instruction or a diagnosis of the goal.
    """
    steps = [
        {
            "id": f"step_{i}",
            "tool": call.tool,
            "args": call.args,
            "description": call.reason[:500] or None,
            "requires_approval": call.requires_approval,
        }
        for i, call in enumerate(plan.steps, start=1)
    ]
    digest = hashlib.sha256(instruction.encode()).hexdigest()[:10]
    playbook = Playbook.model_validate(
        {
            "id": f"{origin}-{digest}",
            "title": instruction[:200],
            "version": "1.0.0",
            "mode": "suggest",
            "description": f"Planned from a {origin}: {instruction[:1000]}",
            "steps": steps,
            "tools": sorted({call.tool for call in plan.steps}),
        }
    )
    return LoadedPlaybook(playbook=playbook, source=origin, content_hash=content_hash(playbook), node=None)


@dataclass
class TicketScope:
    """A ticket with what planning may rely on: its client, contact on record and device."""

    ticket: Ticket
    client: Client
    device: Device | None
    context: InstructionContext
    run_context: TicketContext


async def find_ticket(session: AsyncSession, ref: str) -> Ticket:
    """A ticket by MSPclaw id, or by the PSA's own ticket id or number; refuses an ambiguous ref."""
    ref = ref.strip().lstrip("#")
    with contextlib.suppress(ValueError):
        found = await session.get(Ticket, uuid.UUID(ref))
        if found is not None:
            return found
    rows = list(
        await session.scalars(
            select(Ticket)
            .where(or_(Ticket.external_id == ref, Ticket.number == ref), Ticket.deleted_at.is_(None))
            .order_by(Ticket.vendor_updated_at.desc())
            .limit(10)
        )
    )
    if not rows:
        raise NotFound(f"no ticket {ref!r}: give the MSPclaw ticket id or the PSA's ticket number")
    if len(rows) > 1:
        choices = [{"id": str(t.id), "number": t.number or t.external_id, "subject": t.subject[:80]} for t in rows]
        raise Conflict(
            f"ticket {ref!r} matches {len(rows)} tickets from different PSA connections; use the MSPclaw id: "
            + ", ".join(f"{c['id']} ({c['subject']})" for c in choices),
            detail={"matches": choices},
        )
    return rows[0]


async def ticket_scope(
    session: AsyncSession, *, principal: Principal, ticket_id: uuid.UUID, device_id: uuid.UUID | None
) -> TicketScope:
    """The ticket's client, contact on record and device (the given one, else asset mapping's)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.tenant_id != principal.tenant_id:
        raise NotFound(f"ticket {ticket_id} not found")
    if ticket.client_id is None:
        raise Conflict("this ticket's company is not linked to a client yet; confirm the client link first")
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    contact = await contact_on_record(session, ticket)
    if device_id is None:
        mapping = await resolve_device(session, query=AssetQuery(client_id=client.id, contact_email=contact.email))
        device_id = mapping.device.device_id if mapping.device else None
    device = await session.get(Device, device_id) if device_id else None
    if device_id is not None and (device is None or device.client_id != client.id):
        raise NotFound(f"device {device_id} not found for this ticket's client")
    context = InstructionContext(
        ticket_id=str(ticket.id),
        ticket_subject=ticket.subject,
        ticket_body=ticket.description or "",
        contact_email=contact.email,
        contact_phone=contact.phone,
        contact_name=contact.name,
        device_hostname=device.hostname if device else None,
        client_name=client.name,
    )
    run_context = TicketContext(
        ticket=TicketInfo(id=str(ticket.id), subject=ticket.subject, body=ticket.description or ""),
        contact=contact,
        client=ClientInfo.model_validate(client_fields(client)),
    )
    return TicketScope(ticket, client, device, context, run_context)


async def device_named(session: AsyncSession, scope: TicketScope, hostname: str) -> Device:
    """The ticket client's device called ``hostname`` (another client's device is never found)."""
    found = await session.scalar(
        select(Device).where(Device.client_id == scope.client.id, func.lower(Device.hostname) == hostname.lower())
    )
    if found is None:
        raise NotFound(f"no device {hostname!r} for {scope.client.name}; check the host name or pass the device id")
    return found


async def tenant_planner(session: AsyncSession, keyring: Keyring) -> tuple[LLMPlanner | None, UsageHook]:
    """The tenant's LLM planner (None: offline) and the hook that books its tokens."""
    planner, config, _reason = await store.planner_for_tenant(session, keyring)

    async def on_usage(run_usage: RunUsage) -> None:
        if config is not None:
            await store.record_usage(session, config, run_usage)

    return planner, on_usage


ConfirmStart = Callable[[InstructionResult], Awaitable[bool]]


async def audit_ticket(
    session: AsyncSession, principal: Principal, action: str, ticket_id: uuid.UUID, detail: dict[str, Any]
) -> None:
    """Record what a technician's instruction or diagnosis did on a ticket."""
    await audit.record(
        session, actor=principal.actor, action=action, target_type="ticket", target_id=ticket_id, detail=detail
    )


async def plan_run(
    session: AsyncSession,
    *,
    principal: Principal,
    scope: TicketScope,
    device: Device | None,
    playbook: LoadedPlaybook,
    preview: bool,
    start: bool,
    confirm: Callable[[DryRun], Awaitable[bool]] | None = None,
) -> tuple[DryRun | None, Run | None]:
    """The gate's dry-run view of a planned playbook and/or its run, on the ticket's client and device."""
    common: dict[str, Any] = {
        "client_id": scope.client.id,
        "device_id": device.id if device else None,
        "context": scope.run_context,
    }
    view = None
    if preview:
        view = await dry_run(
            session, principal=principal, playbook_id=playbook.playbook.id, inputs={}, playbook=playbook, **common
        )
    if not start or (confirm is not None and view is not None and not await confirm(view)):
        return view, None
    data = RunStart(playbook_id=playbook.playbook.id, ticket_ref=str(scope.ticket.id), inputs={}, **common)
    return view, await start_run(session, principal=principal, playbook=playbook, data=data)


async def resolve_instruction(
    session: AsyncSession,
    keyring: Keyring,
    *,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: InstructionRequest,
    confirm: ConfirmStart | None = None,
) -> InstructionResult:
    """Plan the instruction for the ticket and, unless a dry-run, start it through the executor.

    With ``confirm`` (the CLI), the dry-run view is built first and the run starts only if
    ``confirm`` accepts it: what runs is exactly the plan that was shown.
    """
    scope = await ticket_scope(session, principal=principal, ticket_id=ticket_id, device_id=data.device_id)
    planner, on_usage = await tenant_planner(session, keyring)
    try:
        planned = await plan_instruction(data.instruction, scope.context, llm=planner, on_usage=on_usage)
    except MSPclawError as exc:
        # the refused attempt stays on record: callers commit before passing the error on
        detail = {"instruction": data.instruction[:500], "error": exc.message, "detail": exc.detail}
        await audit_ticket(session, principal, "instruction.refused", scope.ticket.id, detail)
        raise
    result = InstructionResult(plan=planned)
    plan = result.plan.plan
    device = scope.device
    if data.device_id is None and plan.device_hostname and plan.device_hostname != scope.context.device_hostname:
        device = await device_named(session, scope, plan.device_hostname)  # "… on LT-0442"
    if plan.steps:
        view = data.dry_run or confirm is not None
        result.preview, run = await plan_run(
            session,
            principal=principal,
            scope=scope,
            device=device,
            playbook=plan_to_playbook(plan, data.instruction),
            preview=view,
            start=not data.dry_run,
            confirm=(lambda preview: confirm(result.model_copy(update={"preview": preview}))) if confirm else None,
        )
        result.run = RunRead.model_validate(run) if run else None
    await audit_ticket(
        session,
        principal,
        "instruction.resolve",
        scope.ticket.id,
        {
            "instruction": data.instruction[:500],
            "engine": result.plan.engine,
            "fallback_reason": result.plan.fallback_reason,
            "dry_run": data.dry_run,
            "tools": [s.tool for s in plan.steps],
            "steps": [{"tool": s.tool, "args": get_tool(s.tool).redact(s.args)} for s in plan.steps],
            "rejected": [c.model_dump() for c in result.plan.rejected],
            "run_id": str(result.run.id) if result.run else None,
        },
    )
    return result
