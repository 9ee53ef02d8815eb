"""Fault injection for crash tests: ``MSPCLAW_CRASH_POINT=after_execute:<step>`` kills the worker.

The executor calls :func:`crash_point` at the moments a real crash hurts most (right after a
tool's side effect, before it is recorded; right after a step is recorded). Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "MSPCLAW_CRASH_POINT"
POINTS = ("before_execute", "after_execute", "after_record")


def crash_point(point: str, step_id: str) -> None:
    """SIGKILL this process when ``MSPCLAW_CRASH_POINT`` names ``point:step_id`` (comma-separated list)."""
    wanted = {w.strip() for w in os.environ.get(ENV, "").split(",") if w.strip()}
    if f"{point}:{step_id}" in wanted:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no status update: a real crash
