"""Resolution feedback from the agent prompt: "Did this fix your problem?" on the device itself.

When a run that executed on a device (at least one step on the endpoint backend) succeeds, the
loop writes its note back first; then, in its own job, it asks the person at that device through
the agent's Question/Answer prompt. The answer is recorded by the same service as the signed link
(``flows.record_feedback``, source ``agent``), so a "no" reopens and escalates exactly as a "no"
from the link does. No answer, ``unavailable``, a timeout, an offline device or an answer that is
not yes/no/partial records nothing.

The question goes through the gateway of this process, which ``install_executor_backends``
installs here when endpoint tools go through agents (``endpoint_backend=gateway``). Only a
device connected to this process can be asked (the worker inside ``mspclaw up``); a standalone
``mspclaw worker`` finds it "not connected here" and records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable

from mspclaw_agent.protocol import Answer, Question
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
from mspclaw.loop.models import FeedbackAnswer
from mspclaw.runs.models import Run, RunStep

ASK_FEEDBACK = "loop.ask_feedback"
#: its own queue: a question can hold a worker slot while it waits (``mspclaw worker -q loop-feedback``)
QUEUE = "loop-feedback"
#: the question's key: what the agent's answer file (MSPCLAW_AGENT_ANSWER_FILE) answers
QUESTION_KEY = "resolution_feedback"
CHOICES = ("yes", "no", "partial")
#: how long the person at the device has to answer (the job waits that long, then records nothing)
ASK_SECONDS = 120.0
_WORDS: dict[str, FeedbackAnswer] = {
    "yes": "yes",
    "y": "yes",
    "fixed": "yes",
    "no": "no",
    "n": "no",
    "not fixed": "no",
    "partial": "partial",
    "partly": "partial",
    "p": "partial",
}

Asker = Callable[[str, Question], Awaitable[Answer]]
_asker: Asker | None = None


def install(asker: Asker | None) -> None:
    """Use ``asker`` (e.g. ``gateway.ask``) to put questions to devices; None goes back to the default."""
    global _asker
    _asker = asker


def current_asker() -> Asker | None:
    """The asker this process installed (``install_executor_backends`` gives its gateway's), else None."""
    return _asker


def question_for(run: Run, subject: str | None) -> Question:
    """The question shown on the device (the ticket's subject, so the person knows which problem)."""
    about = f' ("{subject[:120]}")' if subject else ""
    return Question(
        question_id=f"feedback-{run.id}",
        key=QUESTION_KEY,
        prompt=f"IT support just worked on your problem{about}. Did this fix your problem?",
        choices=list(CHOICES),
        timeout=ASK_SECONDS,
    )


def parse_answer(answer: Answer) -> FeedbackAnswer | None:
    """yes / no / partial from what the person typed or chose; None for anything else."""
    if answer.status != "answered" or not answer.answer:
        return None
    return _WORDS.get(" ".join(answer.answer.strip().lower().rstrip(".!").split()))


def ran_on_device(run: Run, steps: Iterable[RunStep]) -> bool:
    """Whether the run did something on its device through the agent/endpoint backend (its loaded steps)."""
    return run.device_id is not None and any(step.backend == "endpoint" for step in steps)


async def defer_ask(session: AsyncSession, tenant_id: uuid.UUID, run: Run) -> None:
    """Queue the question for after this transaction (the note is written first, never held up)."""
    await jobs.defer(
        session,
        ASK_FEEDBACK,
        {"tenant_id": str(tenant_id), "run_id": str(run.id)},
        queue=QUEUE,
        queueing_lock=f"loop-ask:{run.id}",
    )
