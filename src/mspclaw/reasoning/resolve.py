"""Resolve: a technician's instruction on a ticket becomes a plan, then a run of the same
executor and policy gate as any playbook. The planner proposes; the executor decides.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.usage import RunUsage
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.agents.models import AssetQuery
from mspclaw.agents.service import resolve_device
from mspclaw.auth.principal import Principal
from mspclaw.errors import Conflict, NotFound
from mspclaw.loop.flows import contact_on_record
from mspclaw.playbooks.loader import LoadedPlaybook, content_hash
from mspclaw.playbooks.models import ClientInfo, Playbook, TicketContext, TicketInfo
from mspclaw.reasoning import store
from mspclaw.reasoning.models import InstructionContext, PlanResult, ProposedPlan
from mspclaw.reasoning.planner import plan_instruction
from mspclaw.runs.flows import DryRun, dry_run, start_run
from mspclaw.runs.models import RunRead, RunStart
from mspclaw.tenancy.models import Client, Device
from mspclaw.tickets.models import Ticket
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


def plan_to_playbook(plan: ProposedPlan, instruction: str) -> LoadedPlaybook:
    """An ad-hoc playbook holding exactly the planned calls (its tools are the only allowed ones)."""
    steps = [
        {"id": f"step_{i}", "tool": call.tool, "args": call.args, "description": call.reason[:500] or None}
        for i, call in enumerate(plan.steps, start=1)
    ]
    digest = hashlib.sha256(instruction.encode()).hexdigest()[:10]
    playbook = Playbook.model_validate(
        {
            "id": f"instruction-{digest}",
            "title": instruction[:200],
            "version": "1.0.0",
            "mode": "suggest",
            "description": f"Planned from a technician instruction: {instruction[:1000]}",
            "steps": steps,
            "tools": sorted({call.tool for call in plan.steps}),
        }
    )
    return LoadedPlaybook(playbook=playbook, source="instruction", content_hash=content_hash(playbook), node=None)


async def resolve_instruction(
    session: AsyncSession, keyring: Keyring, *, principal: Principal, ticket_id: uuid.UUID, data: InstructionRequest
) -> InstructionResult:
    """Plan the instruction for the ticket and, unless a dry-run, start it through the executor."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.tenant_id != principal.tenant_id:
        raise NotFound(f"ticket {ticket_id} not found")
    if ticket.client_id is None:
        raise Conflict("this ticket's company is not linked to a client yet; confirm the client link first")
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    contact = await contact_on_record(session, ticket)
    device_id = data.device_id
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
        contact_name=contact.name,
        device_hostname=device.hostname if device else None,
        client_name=client.name,
    )
    planner, config, _reason = await store.planner_for_tenant(session, keyring)

    async def on_usage(run_usage: RunUsage) -> None:
        if config is not None:
            await store.record_usage(session, config, run_usage)

    result = await plan_instruction(data.instruction, context, llm=planner, on_usage=on_usage)
    if not result.plan.steps:
        return InstructionResult(plan=result)  # nothing to run (e.g. only a verification request)
    loaded = plan_to_playbook(result.plan, data.instruction)
    ticket_context = TicketContext(
        ticket=TicketInfo(id=str(ticket.id), subject=ticket.subject, body=ticket.description or ""),
        contact=contact,
        client=ClientInfo(id=str(client.id), name=client.name),
    )
    common: dict[str, Any] = {"client_id": client.id, "device_id": device_id, "context": ticket_context}
    if data.dry_run:
        preview = await dry_run(
            session, principal=principal, playbook_id=loaded.playbook.id, inputs={}, playbook=loaded, **common
        )
        return InstructionResult(plan=result, preview=preview)
    run = await start_run(
        session,
        principal=principal,
        playbook=loaded,
        data=RunStart(playbook_id=loaded.playbook.id, ticket_ref=str(ticket.id), inputs={}, **common),
    )
    return InstructionResult(plan=result, run=RunRead.model_validate(run))
