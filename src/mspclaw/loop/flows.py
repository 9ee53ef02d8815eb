"""The loop's two decisions: what to do with a freshly triaged ticket, and what to write back
when its run ends. Each decision is recorded once (``loop_actions.key``) and audited.

Auto-run needs both the client policy (``auto_run``) and the playbook (``mode: auto``); the
executor's policy gate and approvals still apply to every step of an automatic run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.agents.models import AssetQuery
from mspclaw.agents.service import resolve_device
from mspclaw.audit.service import Actor, record
from mspclaw.auth.models import Technician
from mspclaw.auth.principal import Principal
from mspclaw.connectors.errors import ConnectorError
from mspclaw.connectors.models import TicketStatus, TicketUpdate
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.errors import Conflict, MSPclawError, NotFound
from mspclaw.loop import agent_feedback, feedback, notify, sla
from mspclaw.loop.models import FeedbackAnswer, FeedbackSource, LoopAction, RunFeedback
from mspclaw.loop.notes import (
    escalation_message,
    escalation_package,
    public_reply,
    resolution_note,
    stop_reason,
    ticket_label,
)
from mspclaw.playbooks.loader import builtin_playbooks
from mspclaw.playbooks.matcher import match_playbooks
from mspclaw.playbooks.models import ClientInfo, ContactInfo, DeviceInfo, TicketContext, TicketInfo
from mspclaw.rmm import service as rmm_service
from mspclaw.runs.flows import client_fields, start_run
from mspclaw.runs.models import TERMINAL, Approval, Run, RunStart, RunStep
from mspclaw.sync import service as connections
from mspclaw.sync.models import DirectoryRecord
from mspclaw.tenancy.models import Client, Device
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tickets.models import Ticket
from mspclaw.triage.models import TriageRecord
from mspclaw.triage.routing import TechnicianProfile, TicketFeatures, recommend
from mspclaw.vault.keys import Keyring

log = structlog.get_logger(__name__)

#: What the loop may ask the executor for. Approvals and the client policy still decide each step.
AUTOMATION_PERMISSIONS = frozenset(
    {"runs.start", "tools.run.read", "tools.run.change", "identity.read", "identity.write", "notify.send"}
)
MIN_INTENT_CONFIDENCE = 0.5
HEADLINES = {
    "sla_warning": "MSPclaw SLA warning",
    "feedback_no": "MSPclaw: the user says it is not fixed",
    "unmatched": "MSPclaw: nothing safe to automate",
}
UNSURE = "unsure"


def automation_principal(tenant_id: uuid.UUID) -> Principal:
    """The loop acting on its own: recorded as actor type 'automation'."""
    return Principal(tenant_id=tenant_id, actor=notify.LOOP_ACTOR, permissions=AUTOMATION_PERMISSIONS)


async def _remember(session: AsyncSession, action: LoopAction) -> LoopAction | None:
    """Insert the decision once; None when it was already taken (a repeated job)."""
    savepoint = await session.begin_nested()
    session.add(action)
    try:
        await session.flush()
    except IntegrityError:
        await savepoint.rollback()
        return None
    await savepoint.commit()
    await record(
        session,
        actor=notify.LOOP_ACTOR,
        action=f"loop.{action.kind}",
        target_type="ticket",
        target_id=action.ticket_id,
        detail={
            "playbook": action.playbook_id,
            "run_id": str(action.run_id) if action.run_id else None,
            "reason": action.reason,
        },
    )
    return action


async def latest_triage(session: AsyncSession, ticket_id: uuid.UUID) -> TriageRecord | None:
    """The newest triage of a ticket (a ticket is triaged again whenever it changes)."""
    return await session.scalar(
        select(TriageRecord)
        .where(TriageRecord.ticket_id == ticket_id)
        .order_by(TriageRecord.created_at.desc())
        .limit(1)
    )


async def contact_on_record(session: AsyncSession, ticket: Ticket) -> ContactInfo:
    """The ticket requester as the PSA directory knows them (never as the ticket text claims)."""
    if not ticket.contact_external_id:
        return ContactInfo()
    row = await session.scalar(
        select(DirectoryRecord).where(
            DirectoryRecord.connection_id == ticket.connection_id,
            DirectoryRecord.kind == "contact",
            DirectoryRecord.external_id == ticket.contact_external_id,
        )
    )
    if row is None:
        return ContactInfo()
    detail = row.detail or {}
    return ContactInfo(name=row.name, email=detail.get("email"), phone=detail.get("phone"))


async def ticket_context(
    session: AsyncSession, ticket: Ticket, triage: TriageRecord, client: Client
) -> tuple[TicketContext, Device | None, str]:
    """The matcher's view of the ticket, and the device asset mapping chose (with why)."""
    contact = await contact_on_record(session, ticket)
    text = f"{ticket.subject}\n{ticket.description or ''}"
    hostname = next((w.strip(".,;:()") for w in text.split() if any(c.isdigit() for c in w) and "-" in w), None)
    mapping = await resolve_device(
        session, query=AssetQuery(client_id=client.id, contact_email=contact.email, hostname=hostname)
    )
    device = await session.get(Device, mapping.device.device_id) if mapping.device else None
    intent = None if triage.intent == UNSURE or triage.confidence < MIN_INTENT_CONFIDENCE else triage.intent
    context = TicketContext(
        ticket=TicketInfo(
            id=str(ticket.id),
            subject=ticket.subject,
            body=ticket.description or "",
            intent=intent,
            intent_confidence=triage.confidence,
            priority=triage.priority,
        ),
        contact=contact,
        device=DeviceInfo(
            id=str(device.id),
            hostname=device.hostname,
            os=device.os if device.os in ("linux", "macos", "windows") else None,
            **await rmm_service.reach(session, device),  # through its RMM when no agent is enrolled
        )
        if device
        else DeviceInfo(agent=False),
        client=ClientInfo.model_validate(client_fields(client)),
    )
    return context, device, mapping.reason


async def after_triage(
    session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID, keyring: Keyring | None = None
) -> LoopAction | None:
    """Match the newest triage of a ticket to a playbook and start it (auto) or suggest it.

    With ``keyring`` the technicians subscribed to "unmatched" are told when nothing safe applies.
    """
    ticket = await session.get(Ticket, ticket_id)
    triage = await latest_triage(session, ticket_id)
    if ticket is None or triage is None:
        return None
    # writing the note back changes the ticket, which is synced and triaged again: act once per ticket
    earlier = set((await session.scalars(select(LoopAction.kind).where(LoopAction.ticket_id == ticket.id))).all())
    if earlier & {"started", "suggested"}:
        return None
    key = f"triage:{triage.id}"
    if ticket.client_id is None:
        return await _remember(
            session,
            LoopAction(
                key=key,
                ticket_id=ticket.id,
                kind="skipped",
                reason="the ticket's company is not mapped to a client yet",
            ),
        )
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    policy = ClientPolicy.model_validate(client.policy or {})
    context, device, device_reason = await ticket_context(session, ticket, triage, client)
    candidates = match_playbooks(builtin_playbooks().values(), context)
    if not candidates:
        skipped = await _remember(
            session,
            LoopAction(
                key=key, ticket_id=ticket.id, kind="skipped", reason=f"no playbook matches (intent {triage.intent})"
            ),
        )
        if skipped is not None and keyring is not None and "skipped" not in earlier:
            routed, _ = await _route(session, ticket, triage)
            await _notify_escalation(
                session,
                keyring,
                event="unmatched",
                ticket=ticket,
                client=client,
                playbook=None,
                why=f"no playbook safely matches this ticket (intent {triage.intent})",
                routed_to=routed,
                run_id=None,
            )
        return skipped
    best = candidates[0]
    detail: dict[str, Any] = {
        "candidates": [c.model_dump(mode="json") for c in candidates[:3]],
        "device": str(device.id) if device else None,
        "device_reason": device_reason,
    }
    auto = policy.auto_run and best.mode == "auto"
    if not auto:
        why = "the client policy does not allow auto-run" if not policy.auto_run else "the playbook is suggest-only"
        return await _remember(
            session,
            LoopAction(
                key=key,
                ticket_id=ticket.id,
                kind="suggested",
                playbook_id=best.playbook_id,
                detail=detail,
                reason=f"suggested {best.playbook_id}: {why}",
            ),
        )
    action = LoopAction(
        key=key,
        ticket_id=ticket.id,
        kind="started",
        playbook_id=best.playbook_id,
        detail=detail,
        reason=f"auto-run {best.playbook_id}: " + "; ".join(best.reasons)[:900],
    )
    savepoint = await session.begin_nested()
    try:
        run = await _start_for_ticket(
            session, automation_principal(tenant_id), best.playbook_id, client, device, ticket, context
        )
    except MSPclawError as exc:
        await savepoint.rollback()
        return await _remember(
            session,
            LoopAction(
                key=key,
                ticket_id=ticket.id,
                kind="suggested",
                playbook_id=best.playbook_id,
                detail=detail,
                reason=f"suggested {best.playbook_id}: cannot start ({exc.message})",
            ),
        )
    await savepoint.commit()
    action.run_id = run.id
    started = await _remember(session, action)
    if started is not None and keyring is not None:
        # a ticket that is already late when its run starts is flagged now, not at the next sweep
        await check_sla(session, keyring, now=utcnow(), ticket_id=ticket.id)
    return started


async def _start_for_ticket(
    session: AsyncSession,
    principal: Principal,
    playbook_id: str,
    client: Client,
    device: Device | None,
    ticket: Ticket,
    context: TicketContext,
) -> Run:
    data = RunStart(
        playbook_id=playbook_id,
        client_id=client.id,
        device_id=device.id if device else None,
        ticket_ref=str(ticket.id),
        context=context,
    )
    return await start_run(session, principal=principal, data=data)


async def accept_suggestion(session: AsyncSession, *, principal: Principal, action_id: uuid.UUID) -> LoopAction:
    """A technician starts the playbook the loop suggested; the run is theirs, approvals still apply."""
    principal.require("runs.start")
    suggested = await session.get(LoopAction, action_id)
    if suggested is None or suggested.ticket_id is None:
        raise NotFound(f"loop action {action_id} not found", detail={"id": str(action_id)})
    if suggested.kind != "suggested" or suggested.playbook_id is None:
        raise Conflict(
            f"loop action {action_id} is {suggested.kind}, not a suggestion; only suggestions can be started",
            detail={"kind": suggested.kind},
        )
    ticket = await session.get(Ticket, suggested.ticket_id)
    triage = await latest_triage(session, suggested.ticket_id)
    if ticket is None or triage is None or ticket.client_id is None:
        raise Conflict("the suggestion's ticket is gone or no longer mapped to a client", detail={"id": str(action_id)})
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    context, device, device_reason = await ticket_context(session, ticket, triage, client)
    run = await _start_for_ticket(session, principal, suggested.playbook_id, client, device, ticket, context)
    accepted = await _remember(
        session,
        LoopAction(
            key=f"accept:{suggested.id}",
            ticket_id=ticket.id,
            run_id=run.id,
            kind="started",
            playbook_id=suggested.playbook_id,
            detail={"device": str(device.id) if device else None, "device_reason": device_reason},
            reason=f"{principal.actor.name} started the suggested {suggested.playbook_id}",
        ),
    )
    if accepted is None:
        raise Conflict(f"the suggestion {action_id} was already started", detail={"id": str(action_id)})
    return accepted


async def _route(session: AsyncSession, ticket: Ticket, triage: TriageRecord | None) -> tuple[str | None, list[str]]:
    techs = (await session.scalars(select(Technician).where(Technician.active))).all()
    profiles = [TechnicianProfile(id=t.email, skills=set(t.skills or [])) for t in techs if t.role != "viewer"]
    ranked = recommend(
        TicketFeatures(
            intent=triage.intent if triage else None,
            client=str(ticket.client_id) if ticket.client_id else None,
            skills_needed={triage.intent} if triage else set(),
        ),
        profiles,
    )
    return (ranked[0].technician_id, ranked[0].reasons) if ranked else (None, [])


async def write_to_psa(
    session: AsyncSession,
    keyring: Keyring,
    ticket: Ticket,
    *,
    notes: Sequence[tuple[str, bool]],
    status: TicketStatus | None,
) -> dict[str, Any]:
    """Add the notes (body, internal) and set the status on the PSA ticket; what happened, for the record.

    A vendor failure is reported (``write_error``), not raised: the loop's decision is still recorded.
    """
    connection = await connections.get(session, connection_id=ticket.connection_id)
    if connection is None:
        return {"write_error": "the ticket's connection was removed"}
    try:
        connector = await connections.open_connector(session, keyring, connection)
        try:
            for body, internal in notes:
                await connector.add_note(ticket.external_id, body, internal=internal)  # type: ignore[attr-defined]
            if status is not None:
                await connector.update_ticket(ticket.external_id, TicketUpdate(status=status))  # type: ignore[attr-defined]
        finally:
            await connector.aclose()
    except (ConnectorError, MSPclawError) as exc:
        error = getattr(exc, "message", str(exc))
        log.warning("loop_write_back_failed", ticket=str(ticket.id), error=error)
        return {"write_error": error}
    return {"written": True}


async def after_run(
    session: AsyncSession,
    keyring: Keyring,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    public_url: str | None = None,
) -> LoopAction | None:
    """Write the outcome of a finished run back to its PSA ticket: a note and a status, or an escalation.

    When the connection posts public replies, a succeeded run also gets one, with a signed feedback
    link under ``public_url`` (MSPclaw's address as the end user reaches it).
    """
    run = await session.get(Run, run_id)
    if run is None or run.status not in TERMINAL:
        return None
    ticket = await _ticket_of(session, run)
    if ticket is None:
        return None
    steps = list((await session.scalars(select(RunStep).where(RunStep.run_id == run.id).order_by(RunStep.seq))).all())
    triage = await latest_triage(session, ticket.id)
    routed: str | None = None
    declined: list[Approval] = []
    if run.status == "succeeded":
        kind, note = "written_back", resolution_note(run, steps)
        status: TicketStatus | None = "resolved"
    else:
        routed, reasons = await _route(session, ticket, triage)
        declined = list(
            (
                await session.scalars(
                    select(Approval)
                    .where(Approval.run_id == run.id, Approval.status.in_(("denied", "expired")))
                    .order_by(Approval.requested_at)
                )
            ).all()
        )
        kind, status = "escalated", None
        note = escalation_package(
            run,
            steps,
            similar=triage.similar if triage else (),
            routed_to=routed,
            routing_reasons=reasons,
            declined=declined,
        )
    # claim the decision first: a repeated job finds it taken and writes nothing twice
    action = await _remember(
        session,
        LoopAction(
            key=f"run:{run.id}",
            ticket_id=ticket.id,
            run_id=run.id,
            kind=kind,
            playbook_id=run.playbook_id,
            detail={},
            reason=f"run {run.status}" + (" (approval declined)" if declined else ""),
        ),
    )
    if action is None:
        return None
    detail: dict[str, Any] = {"run_status": run.status, "routed_to": routed}
    writes: list[tuple[str, bool]] = [(note, True)]
    if run.status == "succeeded":
        settings = await feedback.get_settings(session, connection_id=ticket.connection_id)
        if settings.public_reply:
            url = None
            if settings.feedback_link and public_url:
                url = feedback.link_url(public_url, feedback.sign_link(keyring, tenant_id=tenant_id, run_id=run.id))
            writes.append((public_reply(run, url), False))
            detail["public_reply"] = True
            detail["feedback_link"] = url is not None
    detail.update(await write_to_psa(session, keyring, ticket, notes=writes, status=status))
    if run.status == "succeeded" and agent_feedback.ran_on_device(run, steps):
        # asked in its own job, after this note is committed: an unanswered prompt never holds it up
        await agent_feedback.defer_ask(session, tenant_id, run)
        detail["agent_question"] = True
    action.detail = {**detail, "note": note[:4000]}
    await session.flush()
    if kind == "escalated":
        client = await session.get(Client, run.client_id)
        await _notify_escalation(
            session,
            keyring,
            event="escalation",
            ticket=ticket,
            client=client,
            playbook=run.playbook_id,
            why=stop_reason(run, steps, declined),
            routed_to=routed,
            run_id=run.id,
        )
    return action


async def _notify_escalation(
    session: AsyncSession,
    keyring: Keyring,
    *,
    event: str,
    ticket: Ticket,
    client: Client | None,
    playbook: str | None,
    why: str,
    routed_to: str | None,
    run_id: uuid.UUID | None,
) -> None:
    """Tell the tenant's escalation channels and the routed technician (besides the PSA note)."""
    title, body = escalation_message(
        label=ticket_label(ticket.number, ticket.external_id, ticket.subject),
        client=client.name if client else None,
        playbook=playbook,
        why=why,
        routed_to=routed_to,
        run_id=str(run_id) if run_id else None,
        headline=HEADLINES.get(event, "MSPclaw escalation"),
    )
    await notify.notify(
        session,
        keyring,
        event=event,
        message=notify.Message(title, body),
        technician_email=routed_to,
        ticket_id=ticket.id,
        run_id=run_id,
    )


async def record_feedback(
    session: AsyncSession,
    keyring: Keyring,
    *,
    run_id: uuid.UUID,
    answer: FeedbackAnswer,
    source: FeedbackSource,
    actor: Actor,
    comment: str | None = None,
) -> tuple[RunFeedback, bool]:
    """Store the end user's answer for a finished run, once per source; returns it and whether it is new.

    The same answer again changes nothing; a different one is a Conflict (the first answer stands).
    "no" reopens the PSA ticket with an internal note and tells the routed technician; "partial"
    leaves a note for the technician.
    """
    run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", detail={"id": str(run_id)})
    if run.status not in ("succeeded", "failed", "rolled_back", "cancelled"):
        raise Conflict(f"run {run_id} has not finished yet ({run.status})", detail={"status": run.status})
    existing = await session.scalar(
        select(RunFeedback).where(RunFeedback.run_id == run.id, RunFeedback.source == source)
    )
    if existing is not None:
        if existing.answer == answer:
            return existing, False
        raise Conflict(
            f"the answer from this {source} was already recorded as {existing.answer!r}",
            detail={"answer": existing.answer, "source": source},
        )
    ticket = await _ticket_of(session, run)
    row = RunFeedback(
        run_id=run.id,
        ticket_id=ticket.id if ticket else None,
        client_id=run.client_id,
        playbook_id=run.playbook_id,
        answer=answer,
        source=source,
        comment=comment,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="loop.feedback_recorded",
        target_type="run",
        target_id=run.id,
        detail={"answer": answer, "source": source, "ticket_id": str(ticket.id) if ticket else None},
    )
    await _remember(
        session,
        LoopAction(
            key=f"feedback:{run.id}:{source}",
            ticket_id=ticket.id if ticket else None,
            run_id=run.id,
            kind="feedback",
            playbook_id=run.playbook_id,
            detail={"answer": answer, "source": source},
            reason=f"the user answered {answer!r} ({source})",
        ),
    )
    if ticket is None or answer == "yes":
        return row, True
    said = f' They said: "{comment[:1000]}"' if comment else ""
    if answer == "partial":
        note = f"The user says MSPclaw's fix (run {run.id}, {run.playbook_id}) only partly solved the problem.{said}"
        await write_to_psa(session, keyring, ticket, notes=[(note, True)], status=None)
        return row, True
    note = (
        f"The user says the problem is NOT fixed after MSPclaw's run {run.id} ({run.playbook_id}); "
        f"the ticket is reopened for a technician.{said}"
    )
    written = await write_to_psa(session, keyring, ticket, notes=[(note, True)], status="open")
    triage = await latest_triage(session, ticket.id)
    routed, _ = await _route(session, ticket, triage)
    await _remember(
        session,
        LoopAction(
            key=f"reopened:{run.id}:{source}",
            ticket_id=ticket.id,
            run_id=run.id,
            kind="reopened",
            playbook_id=run.playbook_id,
            detail={**written, "routed_to": routed},
            reason="the user says it is not fixed: ticket reopened and escalated",
        ),
    )
    await _notify_escalation(
        session,
        keyring,
        event="feedback_no",
        ticket=ticket,
        client=await session.get(Client, run.client_id),
        playbook=run.playbook_id,
        why="the user says the problem is not fixed" + (f": {comment[:300]}" if comment else ""),
        routed_to=routed,
        run_id=run.id,
    )
    return row, True


async def ask_agent_feedback(
    factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    asker: agent_feedback.Asker | None,
) -> FeedbackAnswer | None:
    """Ask the person at the run's device "Did this fix your problem?" and record the answer.

    No transaction is open while the question waits. Nothing is recorded when nobody answers,
    the device is offline, or the answer is not yes/no/partial; the recorded answer otherwise.
    """
    async with tenant_session(factory, tenant_id) as session:
        run = await session.get(Run, run_id)
        if run is None or run.status != "succeeded" or run.device_id is None:
            return None
        answered = await session.scalar(
            select(RunFeedback.id).where(RunFeedback.run_id == run.id, RunFeedback.source == "agent")
        )
        if answered is not None:
            return None
        ticket = await _ticket_of(session, run)
        question = agent_feedback.question_for(run, ticket.subject if ticket else None)
        device = await session.get(Device, run.device_id)
        device_id, hostname = str(run.device_id), device.hostname if device else None
    if asker is None:
        log.info("loop_feedback_not_asked", run=str(run_id), why="no agent gateway in this process")
        return None
    try:
        reply = await asker(device_id, question)
    except MSPclawError as exc:  # offline, gone, or no reply in time
        log.info("loop_feedback_not_asked", run=str(run_id), why=exc.message)
        return None
    answer = agent_feedback.parse_answer(reply)
    if answer is None:
        log.info("loop_feedback_no_answer", run=str(run_id), status=reply.status)
        return None
    async with tenant_session(factory, tenant_id) as session, session.begin():
        try:
            await record_feedback(
                session,
                keyring,
                run_id=run_id,
                answer=answer,
                source="agent",
                actor=Actor("agent", device_id, hostname),
            )
        except Conflict:
            return None  # another answer from this device got there first; it stands
    return answer


async def _ticket_of(session: AsyncSession, run: Run) -> Ticket | None:
    if not run.ticket_ref:
        return None
    try:
        return await session.get(Ticket, uuid.UUID(run.ticket_ref))
    except ValueError:
        return None  # a run started for a ticket outside the mirror (free text reference)


async def check_sla(
    session: AsyncSession, keyring: Keyring | None, *, now: datetime, ticket_id: uuid.UUID | None = None
) -> list[LoopAction]:
    """Warn, once per ticket, when an automatic run is still open at 80 % of the SLA response window.

    The warning is a loop action (``sla_warning``, audited) and an "sla_warning" notification to the
    tenant's channels and the routed technician. ``now`` is passed in so the clock is the caller's.
    """
    query = (
        select(LoopAction, Run)
        .join(Run, Run.id == LoopAction.run_id)
        .where(LoopAction.kind == "started", Run.status.not_in(tuple(TERMINAL)))
    )
    warned_query = select(LoopAction.ticket_id).where(LoopAction.kind == "sla_warning")
    if ticket_id is not None:
        query = query.where(LoopAction.ticket_id == ticket_id)
        warned_query = warned_query.where(LoopAction.ticket_id == ticket_id)
    warned = set((await session.scalars(warned_query)).all())
    actions: list[LoopAction] = []
    for started, run in (await session.execute(query)).tuples().all():
        if started.ticket_id is None or started.ticket_id in warned:
            continue
        ticket = await session.get(Ticket, started.ticket_id)
        client = await session.get(Client, run.client_id)
        if ticket is None or client is None:
            continue
        triage = await latest_triage(session, ticket.id)
        priority = (triage.priority if triage else None) or ticket.priority
        policy = ClientPolicy.model_validate(client.policy or {})
        opened = ticket.vendor_created_at or ticket.created_at
        target = sla.response_target(policy, priority)
        if now < sla.warn_at(opened, target):
            continue
        deadline = opened + target
        left = int((deadline - now).total_seconds() // 60)
        when = f"{left} min left" if left >= 0 else f"overdue by {-left} min"
        routed, _ = await _route(session, ticket, triage)
        action = await _remember(
            session,
            LoopAction(
                key=f"sla:{ticket.id}",
                ticket_id=ticket.id,
                run_id=run.id,
                kind="sla_warning",
                playbook_id=run.playbook_id,
                detail={
                    "run_status": run.status,
                    "priority": priority,
                    "sla_tier": policy.sla_tier,
                    "target_minutes": int(target.total_seconds() // 60),
                    "deadline": deadline.isoformat(),
                    "routed_to": routed,
                },
                reason=f"SLA response target {deadline:%Y-%m-%d %H:%M} UTC ({when}); run still {run.status}",
            ),
        )
        if action is None:
            continue
        warned.add(ticket.id)
        actions.append(action)
        if keyring is not None:
            await _notify_escalation(
                session,
                keyring,
                event="sla_warning",
                ticket=ticket,
                client=client,
                playbook=run.playbook_id,
                why=f"the automatic run is still {run.status} and the SLA response target is "
                f"{deadline:%Y-%m-%d %H:%M} UTC ({when}); please respond to the user",
                routed_to=routed,
                run_id=run.id,
            )
    return actions


async def check_sla_everywhere(factory: async_sessionmaker[AsyncSession], keyring: Keyring, *, now: datetime) -> int:
    """Run :func:`check_sla` for every tenant with an open automatic run; how many warnings went out."""
    async with tenant_session(factory, None) as session:
        tenants = (
            await session.scalars(
                select(LoopAction.tenant_id)
                .join(Run, Run.id == LoopAction.run_id)
                .where(LoopAction.kind == "started", Run.status.not_in(tuple(TERMINAL)))
                .distinct()
            )
        ).all()
    warned = 0
    for tenant_id in tenants:
        async with tenant_session(factory, tenant_id) as session, session.begin():
            warned += len(await check_sla(session, keyring, now=now))
    return warned
