"""``mspclaw resolve TICKET "instruction"``: plan a technician's instruction for a ticket, show it,
and start it on confirmation — the same flow as ``POST /api/v1/tickets/{id}/instructions``.

The plan shown is the plan that runs; the executor, policy gate and approvals decide what
actually happens. The command acts as the technician named by ``--as`` and is audited.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import typer
from rich.markup import escape

from mspclaw.errors import MSPclawError
from mspclaw.reasoning.grammar import InstructionNotUnderstood
from mspclaw.reasoning.planner import PlannerUnavailable
from mspclaw.reasoning.resolve import InstructionRequest, InstructionResult, find_ticket, resolve_instruction
from mspclaw.runs import service as runs
from mspclaw.runs.commands import AS, TENANT, acting_principal, device_by_ref, work_queued_steps
from mspclaw.tools import get_tool

WAITING = {
    "pending": "queued (a worker will pick it up)",
    "running": "running",
    "awaiting_approval": "awaiting approval",
    "awaiting_input": "awaiting input (caller verification or a question)",
}


def _gate_line(result: InstructionResult, step_id: str) -> str:
    """What the policy gate said about one step, in words."""
    gate = {g.step: g for g in result.preview.gate} if result.preview else {}
    view = gate.get(step_id)
    if view is None:
        return ""
    if view.verdict == "deny":
        return "[red]refused[/]: " + escape("; ".join(view.reasons))
    if view.approval_reasons:
        return "[yellow]needs approval[/]: " + escape("; ".join(view.approval_reasons))
    if view.verdict == "decided_at_run_time":
        return escape("; ".join(view.reasons))
    return "[green]runs unattended[/]"


def show_plan(result: InstructionResult, header: str) -> None:
    """The plan as a technician reads it: steps, tools, masked arguments, approvals and why."""
    from mspclaw.cli import console

    planned = result.plan
    console.print(header)
    engine = planned.engine + (f" — {planned.fallback_reason}" if planned.fallback_reason else "")
    console.print(f"Plan ({escape(engine)}): {escape(planned.plan.summary)}")
    if planned.plan.verification:
        console.print(f"  verify the caller first: {planned.plan.verification}")
    if not planned.plan.steps:
        console.print("  (no tool calls)")
    for index, call in enumerate(planned.plan.steps, start=1):
        args = json.dumps(get_tool(call.tool).redact(call.args), default=str)
        console.print(f"  {index}. [bold]{call.tool}[/] {escape(args)}")
        console.print(f"     {_gate_line(result, f'step_{index}')}")


async def _confirm(result: InstructionResult, *, yes: bool, as_json: bool, header: str) -> bool:
    if not as_json:
        show_plan(result, header)
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    return await asyncio.to_thread(typer.confirm, "Start this run?", default=False, err=True)


def resolve_command(
    ticket: str = typer.Argument(..., help="MSPclaw ticket id, or the PSA's ticket number / id (e.g. 1234)."),
    instruction: str = typer.Argument(..., help='What to do, e.g. "unlock account then text them it is done".'),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and what needs approval; run nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start without asking."),
    device: str = typer.Option(None, "--device", "-d", help="Device id or host name (default: asset mapping)."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Process the run's queued steps here and report where it got to."
    ),
    as_email: str = AS,
    tenant: str = TENANT,
    as_json: bool = typer.Option(False, "--json", help="Print the plan, dry-run view and run as JSON."),
) -> None:
    """Resolve TICKET from a plain-language INSTRUCTION: plan it, show it, then start it.

    The plan lists each tool call with its arguments (secrets masked) and whether the client's
    policy lets it run unattended or it waits for approval, and why. It starts with --yes, or
    when you confirm at the prompt; without a terminal and without --yes nothing starts.

    TICKET is the MSPclaw id or the PSA's ticket number. A number that several PSA connections
    share is refused, listing the matching MSPclaw ids to choose from.
    """
    from mspclaw.cli import console, err, open_database, run, tenant_scope
    from mspclaw.config import get_settings
    from mspclaw.vault.keys import load_keyring

    async def main() -> int:
        settings = get_settings()
        keyring = load_keyring(settings.master_key, settings.data_dir)
        shown: list[bool] = []
        refused: MSPclawError | None = None
        async with open_database() as db:
            async with tenant_scope(db, tenant) as (session, t):
                who = await acting_principal(session, t, as_email)
                found = await find_ticket(session, ticket)
                header = (
                    f"Ticket {escape(found.number or found.external_id)} ({found.id}): {escape(found.subject[:120])}"
                    f"\nActing as {escape(who.actor.name or who.actor.type)}"
                )
                data = InstructionRequest(
                    instruction=instruction, dry_run=dry_run, device_id=await device_by_ref(session, device)
                )

                async def confirm(result: InstructionResult) -> bool:
                    shown.append(True)
                    return await _confirm(result, yes=yes, as_json=as_json, header=header)

                try:
                    result = await resolve_instruction(
                        session, keyring, principal=who, ticket_id=found.id, data=data, confirm=confirm
                    )
                except (InstructionNotUnderstood, PlannerUnavailable) as exc:
                    refused = exc  # raised after the block commits, so the attempt stays audited
            if refused is not None:
                raise refused
            detail = None
            if result.run is not None:
                if wait:
                    await work_queued_steps(db)
                async with tenant_scope(db, tenant) as (session, _t):
                    current = await runs.get_run_or_raise(session, run_id=result.run.id)
                    detail = await runs.detail(session, run=current)
        if as_json:
            payload: dict[str, Any] = result.model_dump(mode="json")
            payload["run"] = detail.model_dump(mode="json") if detail else None
            console.print_json(json.dumps(payload, default=str))
        elif not shown:
            show_plan(result, header)
        if detail is not None:
            if not as_json:
                _report_run(detail)
            return 1 if detail.status == "failed" else 0
        if dry_run or not result.plan.plan.steps:
            if not as_json:
                console.print("Nothing was started" + (" (dry run)." if dry_run else ": the plan has no tool calls."))
            return 0
        if yes or sys.stdin.isatty():
            err.print("Not started.")
            return 0
        err.print("Not started: add --yes to start it without asking (or --dry-run to only look).")
        return 1

    code = run(main)
    if code:
        raise typer.Exit(code)


def _report_run(detail: Any) -> None:
    from mspclaw.cli import console

    state = WAITING.get(detail.status, detail.status)
    console.print(f"Run {detail.id}: [bold]{state}[/]")
    for step in detail.steps:
        console.print(f"  {step.tool}: {step.status}" + (f" — {escape(step.error)}" if step.error else ""))
    for approval in detail.approvals:
        if approval.status == "pending":
            console.print(
                f"  waiting for approval of {approval.tool} ({escape('; '.join(approval.reasons))}): "
                f"mspclaw run approve {approval.id} --as APPROVER_EMAIL"
            )
    if detail.error:
        console.print(f"  [red]{escape(detail.error)}[/]")
