"""The only code that reads and writes the triage tables: triaging a stored ticket (idempotent
per ticket version), ad-hoc text, client context, technician labels and tenant intents.
"""

from __future__ import annotations

import uuid
from datetime import time
from time import monotonic
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.auth.models import Technician
from mspclaw.database.base import utcnow, uuid7
from mspclaw.errors import InvalidInput, MSPclawError, NotFound
from mspclaw.runs.models import Run
from mspclaw.tenancy.models import Client, Contact, Device
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tickets.models import Ticket
from mspclaw.tickets.service import OPEN_STATUSES
from mspclaw.triage import similarity, tenant_models
from mspclaw.triage.models import (
    ClientContext,
    IntentLabel,
    IntentRead,
    TenantIntent,
    TicketTriageRead,
    TriageAnswer,
    TriageRecord,
    TriageRequest,
    TriageSettings,
    TriageSettingsRead,
    TriageSettingsUpdate,
)
from mspclaw.triage.routing import TechnicianProfile, TicketFeatures, recommend
from mspclaw.triage.taxonomy import BUILTIN_INTENTS, merge_intents, validate_intent_id
from mspclaw.triage.urgency import BusinessHours, UrgencySignals

if TYPE_CHECKING:
    from mspclaw.triage.engine import TriageResult
    from mspclaw.vault.keys import Keyring

log = structlog.get_logger(__name__)

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
OPEN_TICKETS_SHOWN = 10
RECENT_RUNS_SHOWN = 5


# --- client context ---------------------------------------------------------------------


def _policy_summary(policy: ClientPolicy) -> list[str]:
    """The few policy facts a technician triaging a ticket should see first."""
    hours = policy.business_hours
    lines = [
        f"SLA tier: {policy.sla_tier or 'none'}",
        f"business hours: {hours.start}-{hours.end} {hours.timezone} ({', '.join(hours.days)})",
        "automations may start without a technician" if policy.auto_run else "automations need a technician",
        f"caller verification before credential changes: {'required' if policy.require_verification else 'off'}",
    ]
    if policy.four_eyes:
        lines.append("four-eyes approval")
    if policy.forbidden_tools:
        lines.append("forbidden tools: " + ", ".join(policy.forbidden_tools))
    if policy.vip_contacts:
        lines.append(f"{len(policy.vip_contacts)} VIP contact(s)")
    return lines


async def _contact(
    session: AsyncSession, tenant_id: uuid.UUID, client: Client | None, contact_ref: str | None
) -> Contact | None:
    """The tenancy contact a ticket's requester reference points at (matched by e-mail)."""
    if not contact_ref or "@" not in contact_ref:
        return None
    stmt = select(Contact).where(
        Contact.tenant_id == tenant_id, func.lower(Contact.email) == contact_ref.strip().lower()
    )
    if client is not None:
        stmt = stmt.where(Contact.client_id == client.id)
    return (await session.execute(stmt.limit(1))).scalars().first()


async def client_context(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    client_id: uuid.UUID | None,
    contact_ref: str | None = None,
    exclude_ticket: uuid.UUID | None = None,
) -> tuple[ClientContext, UrgencySignals | None]:
    """What is known about the client, contact, devices, open tickets and recent runs, and
    the urgency signals that follow from it (SLA tier, VIP, device criticality)."""
    client = None
    if client_id is not None:
        client = (
            await session.execute(select(Client).where(Client.tenant_id == tenant_id, Client.id == client_id))
        ).scalar_one_or_none()
    context = ClientContext(client_id=client.id if client else None, client_name=client.name if client else None)
    policy = ClientPolicy.model_validate(client.policy or {}) if client else None
    if policy is not None:
        context.policy_summary = _policy_summary(policy)
    contact = await _contact(session, tenant_id, client, contact_ref)
    vip = False
    if contact is not None:
        vip = contact.vip or (
            policy is not None and (contact.email or "").lower() in {v.lower() for v in policy.vip_contacts}
        )
        context.contact = {"id": str(contact.id), "name": contact.name, "email": contact.email, "vip": vip}
        devices = (
            await session.execute(
                select(Device).where(Device.tenant_id == tenant_id, Device.contact_id == contact.id).limit(10)
            )
        ).scalars()
        context.devices = [{"id": str(d.id), "hostname": d.hostname, "role": d.role, "os": d.os} for d in devices]
    elif contact_ref and policy is not None:
        vip = contact_ref.lower() in {v.lower() for v in policy.vip_contacts}
    if contact_ref:
        stmt = (
            select(Ticket.id, Ticket.number, Ticket.subject, Ticket.status)
            .where(
                Ticket.tenant_id == tenant_id,
                Ticket.contact_external_id == contact_ref,
                Ticket.status.in_(OPEN_STATUSES),
                Ticket.deleted_at.is_(None),
            )
            .order_by(Ticket.vendor_updated_at.desc())
            .limit(OPEN_TICKETS_SHOWN)
        )
        if exclude_ticket is not None:
            stmt = stmt.where(Ticket.id != exclude_ticket)
        context.open_tickets_of_contact = [
            {"ticket_id": str(r.id), "number": r.number, "subject": r.subject, "status": r.status}
            for r in (await session.execute(stmt)).all()
        ]
    if client is not None:
        runs = await session.execute(
            select(Run.id, Run.playbook_id, Run.status, Run.created_at)
            .where(Run.tenant_id == tenant_id, Run.client_id == client.id)
            .order_by(Run.created_at.desc())
            .limit(RECENT_RUNS_SHOWN)
        )
        context.recent_runs = [
            {
                "run_id": str(r.id),
                "playbook_id": r.playbook_id,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
            }
            for r in runs.all()
        ]
    if client is None and contact is None:
        return context, None
    roles = [d["role"] for d in context.devices]
    signals = UrgencySignals(
        vip_contact=vip,
        sla_tier=policy.sla_tier if policy else None,
        device_role="server" if "server" in roles else (roles[0] if roles else None),
        business_hours=_business_hours(policy) if policy else None,
    )
    return context, signals


def _business_hours(policy: ClientPolicy) -> BusinessHours:
    hours = policy.business_hours
    return BusinessHours(
        timezone=hours.timezone,
        start=time.fromisoformat(hours.start),
        end=time.fromisoformat(hours.end),
        weekdays=tuple(_WEEKDAYS[d] for d in hours.days),
    )


# --- routing from the tenant's history ---------------------------------------------------------

ROUTABLE_ROLES = ("owner", "admin", "engineer")
#: Technician profiles (skills, load, history) are aggregates over all of a tenant's tickets;
#: recomputing them for every ticket of a sync burst would cost more than the triage itself.
PROFILE_TTL_SECONDS = 60.0
_PROFILES: dict[uuid.UUID, tuple[float, list[TechnicianProfile], dict[str, dict[str, str]]]] = {}

_HISTORY_SQL = text(
    """
    SELECT lower(t.assignee) AS who, t.client_id, t.status IN ('new', 'open', 'waiting') AS is_open,
           coalesce(l.intent, r.intent) AS intent, count(*) AS n
      FROM tickets t
      LEFT JOIN triage_intent_labels l ON l.ticket_id = t.id AND l.tenant_id = :tenant
      LEFT JOIN triage_results r
             ON r.ticket_id = t.id AND r.ticket_updated_at = t.vendor_updated_at AND r.tenant_id = :tenant
     WHERE t.tenant_id = :tenant AND t.assignee IS NOT NULL AND t.deleted_at IS NULL
     GROUP BY 1, 2, 3, 4
    """
).bindparams(bindparam("tenant", type_=Uuid()))


async def _technician_profiles(
    session: AsyncSession, *, tenant_id: uuid.UUID
) -> tuple[list[TechnicianProfile], dict[str, dict[str, str]]]:
    """Routing profiles of the tenant's technicians from their skills and the tickets assigned
    to them (matched by e-mail or name): open load, resolved intents, resolved clients."""
    cached = _PROFILES.get(tenant_id)
    if cached is not None and monotonic() - cached[0] < PROFILE_TTL_SECONDS:
        return cached[1], cached[2]
    techs = (
        await session.execute(
            select(Technician).where(
                Technician.tenant_id == tenant_id, Technician.active.is_(True), Technician.role.in_(ROUTABLE_ROLES)
            )
        )
    ).scalars()
    profiles: dict[str, TechnicianProfile] = {}
    alias: dict[str, str] = {}
    people: dict[str, dict[str, str]] = {}
    for tech in techs:
        key = str(tech.id)
        profiles[key] = TechnicianProfile(id=key, skills=set(tech.skills or []))
        people[key] = {"name": tech.name, "email": tech.email}
        alias[tech.email.lower()] = key
        alias[tech.name.lower()] = key
    for row in (await session.execute(_HISTORY_SQL, {"tenant": tenant_id})).all():
        profile = profiles.get(alias.get(row.who or "", ""))
        if profile is None:
            continue
        if row.is_open:
            profile.open_load += int(row.n)
            continue
        if row.intent and row.intent != "unsure":
            profile.resolved_intents[row.intent] = profile.resolved_intents.get(row.intent, 0) + int(row.n)
        if row.client_id is not None:
            client = str(row.client_id)
            profile.resolved_clients[client] = profile.resolved_clients.get(client, 0) + int(row.n)
    result = (list(profiles.values()), people)
    _PROFILES[tenant_id] = (monotonic(), *result)
    return result


async def recommend_technicians(
    session: AsyncSession, *, tenant_id: uuid.UUID, intent: str, client_id: uuid.UUID | None, urgency: int
) -> list[dict[str, Any]]:
    """The tenant's technicians best placed for a ticket (skills, load, who resolved this kind
    of ticket or this client before), with the reasons behind each score."""
    profiles, people = await _technician_profiles(session, tenant_id=tenant_id)
    if not profiles:
        return []
    features = TicketFeatures(
        intent=intent if intent != "unsure" else None,
        client=str(client_id) if client_id else None,
        urgency=urgency,
    )
    return [{**r.model_dump(), **people.get(r.technician_id, {})} for r in recommend(features, profiles, limit=3)]


# --- triage -----------------------------------------------------------------------------


async def triage_adhoc(
    session: AsyncSession, *, tenant_id: uuid.UUID, data: TriageRequest, keyring: Keyring | None = None
) -> TriageAnswer:
    """Triage text that is not (yet) a ticket: nothing is stored (LLM tokens are booked)."""
    if data.client_id is not None:
        await get_client_or_raise(session, tenant_id=tenant_id, client_id=data.client_id)
    context, signals = await client_context(session, tenant_id=tenant_id, client_id=data.client_id)
    from mspclaw.triage.engine import triage_text  # scikit-learn: loaded on first triage

    choice = await tenant_models.model_for(session, tenant_id=tenant_id)
    result = triage_text(data.subject, data.body, model=choice.model, signals=signals, threshold=choice.threshold)
    result = await llm_assist(session, tenant_id=tenant_id, keyring=keyring, result=result, choice=choice)
    similar = await similarity.similar_resolved(
        session, tenant_id=tenant_id, vector=similarity.embed(result.normalised_text)
    )
    return _answer(result, choice.source, similar=similar, context=context)


async def llm_assist(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    keyring: Keyring | None,
    result: TriageResult,
    choice: tenant_models.ModelChoice,
) -> TriageResult:
    """The offline result, with its intent combined with the tenant's LLM's when the tenant's
    provider has ``use_for_triage`` and budget left; unchanged otherwise or if the LLM fails."""
    if keyring is None:
        return result
    from mspclaw.reasoning import store as llm_store

    config = await llm_store.get_config(session)
    if config is None or not config.use_for_triage:
        return result
    try:
        model, config, _reason = await llm_store.model_for_tenant(session, keyring, config=config)
    except MSPclawError as exc:  # e.g. a provider that lacks its key: triage goes on offline
        log.warning("llm_triage_unavailable", error=exc.message)
        return result
    if model is None or config is None:
        return result  # the month's budget is spent: offline only until it turns
    from mspclaw.triage.classifier import DEFAULT_THRESHOLD, IntentPrediction
    from mspclaw.triage.llm_assist import LLMIntentClassifier, assisted

    classifier = LLMIntentClassifier(model, label=f"llm:{config.model}", timeout_seconds=config.timeout_seconds)
    intents = [(i.id, i.label) for i in await list_intents(session, tenant_id=tenant_id)]
    threshold = (
        choice.threshold if choice.threshold is not None else getattr(choice.model, "threshold", DEFAULT_THRESHOLD)
    )
    offline = IntentPrediction(
        intent=result.intent,
        confidence=result.confidence,
        candidates=result.candidates,
        model_version=result.model_version,
    )
    combined, usage = await assisted(classifier, offline, result.normalised_text, intents, threshold=float(threshold))
    if usage is not None:
        await llm_store.record_usage(session, config, usage)
    return result.model_copy(
        update={
            "intent": combined.intent,
            "confidence": combined.confidence,
            "candidates": combined.candidates,
            "model_version": combined.model_version,
        }
    )


def _result_fields(result: TriageResult, source: str) -> dict[str, Any]:
    """The engine's answer as stored and returned (JSON-ready candidates and factors)."""
    return {
        "intent": result.intent,
        "confidence": result.confidence,
        "candidates": [c.model_dump() for c in result.candidates],
        "urgency": result.urgency,
        "priority": result.priority,
        "urgency_factors": [f.model_dump() for f in result.urgency_factors],
        "language": result.language,
        "model_version": result.model_version,
        "model_source": source,
    }


def _answer(result: TriageResult, source: str, **extra: Any) -> TriageAnswer:
    return TriageAnswer(**_result_fields(result, source), **extra)


async def get_client_or_raise(session: AsyncSession, *, tenant_id: uuid.UUID, client_id: uuid.UUID) -> Client:
    """A client of this tenant, or NotFound (the same answer for another tenant's id)."""
    client = (
        await session.execute(select(Client).where(Client.tenant_id == tenant_id, Client.id == client_id))
    ).scalar_one_or_none()
    if client is None:
        raise NotFound(f"client {client_id} not found")
    return client


async def get_ticket_or_raise(session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    """A live ticket of this tenant, or NotFound."""
    ticket = (
        await session.execute(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id))
    ).scalar_one_or_none()
    if ticket is None or ticket.deleted_at is not None:
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


async def triage_ticket(
    session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID, keyring: Keyring | None = None
) -> TriageRecord | None:
    """Triage the ticket's current version and store the result, its embedding, similar
    tickets, duplicates and client context. Idempotent per (ticket, vendor updated-at):
    a version already triaged returns the stored result. None when the ticket is gone."""
    ticket = (
        await session.execute(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id))
    ).scalar_one_or_none()
    if ticket is None or ticket.deleted_at is not None:
        return None
    existing = await _record_for_version(session, ticket)
    if existing is not None:
        return existing
    context, signals = await client_context(
        session,
        tenant_id=tenant_id,
        client_id=ticket.client_id,
        contact_ref=ticket.contact_external_id,
        exclude_ticket=ticket.id,
    )
    from mspclaw.triage.engine import triage_text

    choice = await tenant_models.model_for(session, tenant_id=tenant_id)
    result = triage_text(
        ticket.subject, ticket.description or "", model=choice.model, signals=signals, threshold=choice.threshold
    )
    result = await llm_assist(session, tenant_id=tenant_id, keyring=keyring, result=result, choice=choice)
    vector = similarity.embed(result.normalised_text)
    await similarity.store_embedding(
        session, tenant_id=tenant_id, ticket_id=ticket.id, vector=vector, ticket_updated_at=ticket.vendor_updated_at
    )
    similar = await similarity.similar_resolved(session, tenant_id=tenant_id, vector=vector, exclude=ticket.id)
    is_open = ticket.status in OPEN_STATUSES
    dupes = await similarity.duplicates(session, ticket=ticket, vector=vector) if is_open else []
    routing = (
        await recommend_technicians(
            session, tenant_id=tenant_id, intent=result.intent, client_id=ticket.client_id, urgency=result.urgency
        )
        if is_open
        else []
    )
    stmt = (
        pg_insert(TriageRecord)
        .values(
            id=uuid7(),
            tenant_id=tenant_id,
            ticket_id=ticket.id,
            ticket_updated_at=ticket.vendor_updated_at,
            **_result_fields(result, choice.source),
            context=context.model_dump(mode="json"),
            similar=[s.model_dump(mode="json") for s in similar],
            duplicates=[d.model_dump(mode="json") for d in dupes],
            routing=routing,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["ticket_id", "ticket_updated_at"])
        .returning(TriageRecord)
    )
    inserted = (await session.execute(stmt)).scalars().first()
    # Nothing returned: a concurrent job stored this version first; its row is the answer.
    return inserted if inserted is not None else await _record_for_version(session, ticket)


async def untriaged_tickets(session: AsyncSession, *, tenant_id: uuid.UUID, limit: int) -> list[uuid.UUID]:
    """Live tickets of the tenant without any stored triage, newest first."""
    triaged = select(TriageRecord.id).where(TriageRecord.ticket_id == Ticket.id).exists()
    stmt = (
        select(Ticket.id)
        .where(Ticket.tenant_id == tenant_id, Ticket.deleted_at.is_(None), ~triaged)
        .order_by(Ticket.vendor_updated_at.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def _record_for_version(session: AsyncSession, ticket: Ticket) -> TriageRecord | None:
    stmt = select(TriageRecord).where(
        TriageRecord.tenant_id == ticket.tenant_id,
        TriageRecord.ticket_id == ticket.id,
        TriageRecord.ticket_updated_at == ticket.vendor_updated_at,
    )
    return (await session.execute(stmt)).scalars().first()


_RECORD_FIELDS = (
    "id",
    "ticket_id",
    "ticket_updated_at",
    "created_at",
    "intent",
    "confidence",
    "candidates",
    "urgency",
    "priority",
    "urgency_factors",
    "language",
    "model_version",
    "model_source",
    "similar",
    "context",
    "duplicates",
    "routing",
)


async def latest_for_ticket(session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> TicketTriageRead:
    """The newest stored triage of a ticket (triaging it now if it never was)."""
    ticket = await get_ticket_or_raise(session, tenant_id=tenant_id, ticket_id=ticket_id)
    stmt = (
        select(TriageRecord)
        .where(TriageRecord.tenant_id == tenant_id, TriageRecord.ticket_id == ticket.id)
        .order_by(TriageRecord.created_at.desc())
        .limit(1)
    )
    record = (await session.execute(stmt)).scalars().first()
    if record is None:
        record = await triage_ticket(session, tenant_id=tenant_id, ticket_id=ticket.id)
        if record is None:
            raise NotFound(f"ticket {ticket_id} not found")
    history = (
        await session.execute(
            select(func.count()).where(TriageRecord.tenant_id == tenant_id, TriageRecord.ticket_id == ticket.id)
        )
    ).scalar_one()
    label = (
        await session.execute(
            select(IntentLabel.intent).where(IntentLabel.tenant_id == tenant_id, IntentLabel.ticket_id == ticket.id)
        )
    ).scalar_one_or_none()
    stored = {name: getattr(record, name) for name in _RECORD_FIELDS}
    return TicketTriageRead.model_validate({**stored, "history": int(history), "confirmed_intent": label})


# --- tenant settings ----------------------------------------------------------------------


async def get_settings(session: AsyncSession, *, tenant_id: uuid.UUID) -> TriageSettingsRead:
    """The tenant's threshold and the one in force."""
    choice = await tenant_models.model_for(session, tenant_id=tenant_id)
    model_threshold = float(getattr(choice.model, "threshold", 0.5))
    effective = choice.threshold if choice.threshold is not None else model_threshold
    return TriageSettingsRead(threshold=choice.threshold, effective_threshold=effective)


async def update_settings(
    session: AsyncSession, *, tenant_id: uuid.UUID, data: TriageSettingsUpdate
) -> TriageSettingsRead:
    """Set or clear the tenant's confidence threshold."""
    stmt = (
        pg_insert(TriageSettings)
        .values(id=uuid7(), tenant_id=tenant_id, threshold=data.threshold)
        .on_conflict_do_update(index_elements=["tenant_id"], set_={"threshold": data.threshold, "updated_at": utcnow()})
    )
    await session.execute(stmt)
    return await get_settings(session, tenant_id=tenant_id)


# --- technician labels and tenant intents -------------------------------------------------


async def list_intents(session: AsyncSession, *, tenant_id: uuid.UUID) -> list[IntentRead]:
    """Built-in intents followed by the tenant's own."""
    rows = (
        await session.execute(
            select(TenantIntent.intent_id, TenantIntent.label)
            .where(TenantIntent.tenant_id == tenant_id)
            .order_by(TenantIntent.intent_id)
        )
    ).all()
    return [IntentRead(id=i.id, label=i.label, builtin=i.builtin) for i in merge_intents(dict(rows))]


async def add_intent(session: AsyncSession, *, tenant_id: uuid.UUID, intent_id: str, label: str) -> IntentRead:
    """Add a tenant intent (a built-in id, or one the tenant already has, is refused)."""
    validate_intent_id(intent_id)
    if intent_id in BUILTIN_INTENTS:
        raise InvalidInput(f"{intent_id!r} is a built-in intent")
    known = {i.id for i in await list_intents(session, tenant_id=tenant_id)}
    if intent_id in known:
        raise InvalidInput(f"intent {intent_id!r} already exists")
    session.add(TenantIntent(tenant_id=tenant_id, intent_id=intent_id, label=label))
    await session.flush()
    return IntentRead(id=intent_id, label=label, builtin=False)


async def confirm_intent(
    session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID, intent: str, actor: str
) -> IntentLabel:
    """Record the technician's intent for a ticket (replacing an earlier label): a training label."""
    ticket = await get_ticket_or_raise(session, tenant_id=tenant_id, ticket_id=ticket_id)
    known = {i.id for i in await list_intents(session, tenant_id=tenant_id)}
    if intent not in known:
        raise InvalidInput(
            f"unknown intent {intent!r}; use a built-in one or add it first (POST /api/v1/triage/intents)",
            detail={"known": sorted(known)},
        )
    predicted = (
        await session.execute(
            select(TriageRecord.intent)
            .where(TriageRecord.tenant_id == tenant_id, TriageRecord.ticket_id == ticket.id)
            .order_by(TriageRecord.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    from mspclaw.triage.normalise import normalise_ticket

    text_ = normalise_ticket(ticket.subject, ticket.description or "").text
    stmt = (
        pg_insert(IntentLabel)
        .values(
            id=uuid7(),
            tenant_id=tenant_id,
            ticket_id=ticket.id,
            intent=intent,
            text=text_,
            predicted_intent=predicted,
            labelled_by=actor,
        )
        .on_conflict_do_update(
            index_elements=["ticket_id"],
            set_={"intent": intent, "text": text_, "labelled_by": actor, "updated_at": utcnow()},
        )
        .returning(IntentLabel)
    )
    label = (await session.execute(stmt)).scalars().one()
    await session.refresh(label)
    return label
