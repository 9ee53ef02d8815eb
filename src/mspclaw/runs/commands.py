"""``mspclaw run …``: start (or dry-run) a playbook run, list and show runs, approve or deny
a step, answer a question, cancel. The same flows as the API, acting as a named technician.

Runs advance in a worker (``mspclaw up`` / ``mspclaw worker``); ``--work`` processes the
queued run jobs in this process until nothing is due, for a machine without a worker.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.auth import service as auth
from mspclaw.auth.permissions import ALL_PERMISSIONS
from mspclaw.auth.principal import Principal
from mspclaw.database.core import Database
from mspclaw.errors import InvalidInput, NotFound
from mspclaw.playbooks import TicketContext
from mspclaw.runs import flows, service
from mspclaw.runs.models import RunStart
from mspclaw.tenancy import service as tenancy
from mspclaw.tenancy.models import Device, Tenant

runs_app = typer.Typer(help="Start, inspect and steer playbook runs.", no_args_is_help=True)

TENANT = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id.")
AS = typer.Option(None, "--as", help="Act as this technician (e-mail); default: the CLI operator.")
WORK = typer.Option(False, "--work", help="Process the queued run jobs here until nothing is due.")
JSON = typer.Option(False, "--json", help="Print JSON.")


def _parse_inputs(pairs: list[str] | None) -> dict[str, Any]:
    """NAME=VALUE pairs; a VALUE that parses as JSON (numbers, true, lists) is taken as such."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--input {pair!r} must look like NAME=VALUE")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    return values


async def acting_principal(session: AsyncSession, tenant: Tenant, email: str | None) -> Principal:
    """The technician named by --as, or the CLI operator (all permissions, audited as system:cli)."""
    if email:
        return auth.technician_principal(await auth.get_technician(session, ref=email))
    from mspclaw.cli import cli_actor

    return Principal(tenant.id, cli_actor(), ALL_PERMISSIONS)


async def device_by_ref(session: AsyncSession, ref: str | None) -> uuid.UUID | None:
    """The device named by --device: its id, or its hostname within the tenant."""
    if ref is None:
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        found = await session.scalar(select(Device.id).where(Device.hostname == ref))
        if found is None:
            raise NotFound(f"device {ref!r} not found") from None
        return found


async def work_queued_steps(db: Database) -> None:
    """Process the runs queue until it is empty, so the command reports where the run got to."""
    from mspclaw import jobs
    from mspclaw.config import get_settings
    from mspclaw.runs import runtime

    runtime.install_default(db, get_settings())
    job_app = jobs.bind(db.libpq_url)
    async with job_app.open_async():
        await job_app.run_worker_async(queues=["runs"], wait=False, install_signal_handlers=False)


def _print(data: Any) -> None:
    from mspclaw.cli import console

    console.print_json(json.dumps(data, default=str))


def _act(tenant_ref: str | None, work: bool, body: Any) -> None:
    """Run ``body(session, tenant)`` in one committed transaction, then optionally work the queue."""
    from mspclaw.cli import open_database, run, tenant_scope

    async def main() -> None:
        async with open_database() as db:
            async with tenant_scope(db, tenant_ref) as (session, tenant):
                result = await body(session, tenant)
            if work:
                await work_queued_steps(db)
                async with tenant_scope(db, tenant_ref) as (session, _tenant):
                    # after working the queue, show where the run got to
                    run_id = getattr(result, "run_id", None) or result.id
                    result = await service.get_run_or_raise(session, run_id=run_id)
            _print(_summary(result))

    run(main)


def _summary(obj: Any) -> Any:
    if isinstance(obj, flows.DryRun):
        return obj.model_dump(mode="json")
    fields = ("id", "status", "playbook_id", "phase", "error", "note", "step_id", "tool", "input_name", "answer")
    return {f: getattr(obj, f) for f in fields if hasattr(obj, f)}


@runs_app.command("start")
def start(
    playbook: str = typer.Argument(..., help="Playbook id (see GET /api/v1/playbooks)."),
    client: str = typer.Option(..., "--client", "-c", help="Client name or id."),
    device: str = typer.Option(None, "--device", "-d", help="Device id or host name."),
    ticket: Path = typer.Option(None, "--ticket", help="JSON file: {ticket, contact, device, client} context."),
    inputs: list[str] = typer.Option(None, "--input", "-i", help="Playbook input NAME=VALUE (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the resolved plan and gate verdicts; run nothing."),
    as_email: str = AS,
    tenant: str = TENANT,
    work: bool = WORK,
) -> None:
    """Start a run of PLAYBOOK for a client's ticket/device (or --dry-run it)."""
    context = TicketContext.model_validate_json(ticket.read_text()) if ticket else TicketContext()
    values = _parse_inputs(inputs)

    async def body(session: AsyncSession, t: Tenant) -> Any:
        who = await acting_principal(session, t, as_email)
        found = await tenancy.get_client_by_name_or_id(session, client)
        device_id = await device_by_ref(session, device)
        if dry_run:
            return await flows.dry_run(
                session,
                principal=who,
                playbook_id=playbook,
                client_id=found.id,
                device_id=device_id,
                context=context,
                inputs=values,
            )
        data = RunStart(playbook_id=playbook, client_id=found.id, device_id=device_id, context=context, inputs=values)
        return await flows.start_run(session, principal=who, data=data)

    _act(tenant, work and not dry_run, body)


@runs_app.command("list")
def list_runs(
    status: str = typer.Option(None, "--status", help="Only runs in this state."),
    tenant: str = TENANT,
    as_json: bool = JSON,
) -> None:
    """Runs, newest first."""
    from mspclaw.cli import open_database, print_rows, run, tenant_scope

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            rows, _total = await service.list_runs(session, status=status, limit=200)
            columns = ["id", "playbook_id", "status", "error", "created_at"]
            print_rows([{c: getattr(r, c) for c in columns} for r in rows], columns, as_json, "Runs")

    run(main)


@runs_app.command("show")
def show(run_id: uuid.UUID = typer.Argument(..., help="The run's id."), tenant: str = TENANT) -> None:
    """One run with its steps, approvals and questions (JSON)."""
    from mspclaw.cli import open_database, run, tenant_scope

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _t):
            found = await service.get_run_or_raise(session, run_id=run_id)
            _print((await service.detail(session, run=found)).model_dump(mode="json"))

    run(main)


def _decide(
    approval_id: uuid.UUID, approve: bool, as_email: str, reason: str | None, tenant: str | None, work: bool
) -> None:
    async def body(session: AsyncSession, t: Tenant) -> Any:
        who = await acting_principal(session, t, as_email)
        return await flows.decide_approval(
            session, principal=who, approval_id=approval_id, approve=approve, reason=reason
        )

    _act(tenant, work, body)


AS_APPROVER = typer.Option(..., "--as", help="The approving technician's e-mail (needs runs.approve).")
REASON = typer.Option(None, "--reason", help="Why (kept in the audit trail).")


@runs_app.command("approve")
def approve(
    approval_id: uuid.UUID = typer.Argument(..., help="The approval's id (see 'run show')."),
    as_email: str = AS_APPROVER,
    reason: str = REASON,
    tenant: str = TENANT,
    work: bool = WORK,
) -> None:
    """Approve exactly one step's tool call."""
    _decide(approval_id, True, as_email, reason, tenant, work)


@runs_app.command("deny")
def deny(
    approval_id: uuid.UUID = typer.Argument(..., help="The approval's id (see 'run show')."),
    as_email: str = AS_APPROVER,
    reason: str = REASON,
    tenant: str = TENANT,
    work: bool = WORK,
) -> None:
    """Deny one step; the run applies that step's on_failure."""
    _decide(approval_id, False, as_email, reason, tenant, work)


@runs_app.command("answer")
def answer(
    question_id: uuid.UUID = typer.Argument(..., help="The question's id (see 'run show')."),
    value: str = typer.Argument(..., help="The answer (JSON values such as true or 3 are typed)."),
    as_email: str = AS,
    tenant: str = TENANT,
    work: bool = WORK,
) -> None:
    """Answer a run's question on the user's behalf."""
    parsed = _parse_inputs([f"answer={value}"])["answer"]

    async def body(session: AsyncSession, t: Tenant) -> Any:
        who = await acting_principal(session, t, as_email)
        return await flows.answer_question(session, principal=who, question_id=question_id, answer=parsed)

    _act(tenant, work, body)


@runs_app.command("cancel")
def cancel(
    run_id: uuid.UUID = typer.Argument(..., help="The run's id."),
    as_email: str = AS,
    tenant: str = TENANT,
) -> None:
    """Cancel a run that has not ended."""

    async def body(session: AsyncSession, t: Tenant) -> Any:
        who = await acting_principal(session, t, as_email)
        return await flows.cancel_run(session, principal=who, run_id=run_id)

    _act(tenant, False, body)


if __name__ == "__main__":
    runs_app()
