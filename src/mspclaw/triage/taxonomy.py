"""The intent taxonomy: the fixed ids playbooks and evaluations rely on, plus tenant extensions.

Ids are stable snake_case strings; labels are for people. A tenant may add its own intents,
but can never rename or remove a built-in one (playbook triggers depend on them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from mspclaw.errors import InvalidInput

#: built-in intent id -> human label; the order is the display order.
BUILTIN_INTENTS: dict[str, str] = {
    "password_reset": "Password reset",
    "account_lockout": "Account lockout",
    "mfa": "Multi-factor authentication",
    "printer": "Printer / scanning",
    "vpn": "VPN / remote access",
    "wifi": "Wi-Fi / wireless",
    "email": "E-mail / mailbox",
    "disk_space": "Disk space",
    "slow_computer": "Slow computer",
    "software_install": "Software install / licence",
    "onboarding": "New starter onboarding",
    "offboarding": "Leaver offboarding",
    "access_request": "Access request (folders, apps, groups)",
    "hardware": "Hardware fault / request",
    "backup": "Backup / restore",
    "security_alert": "Security alert / phishing",
    "other": "Other",
}

INTENT_IDS: tuple[str, ...] = tuple(BUILTIN_INTENTS)

#: the answer given when confidence is below the threshold; never a member of the taxonomy.
UNSURE = "unsure"

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


class Intent(BaseModel):
    """One intent of a (possibly tenant-extended) taxonomy."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    builtin: bool


def validate_intent_id(intent_id: str) -> str:
    """Return ``intent_id`` if it is a usable snake_case id, else raise InvalidInput."""
    if len(intent_id) > 64 or not _SNAKE_CASE.match(intent_id):
        raise InvalidInput(
            f"intent id {intent_id!r} must be snake_case (a-z, 0-9, single underscores), "
            "start with a letter and be at most 64 characters",
            detail={"intent": intent_id},
        )
    if intent_id == UNSURE:
        raise InvalidInput(
            f"{UNSURE!r} is reserved for low-confidence answers and cannot be an intent",
            detail={"intent": intent_id},
        )
    return intent_id


def builtin_taxonomy() -> list[Intent]:
    """The shipped taxonomy, in display order."""
    return [Intent(id=i, label=label, builtin=True) for i, label in BUILTIN_INTENTS.items()]


def merge_intents(extra: Mapping[str, str] | None = None) -> list[Intent]:
    """The built-in taxonomy followed by a tenant's own intents (id -> label).

    Extra ids are validated; an extra id equal to a built-in one is rejected rather than
    silently relabelling it, because that would change what playbooks trigger on.
    """
    merged = builtin_taxonomy()
    for intent_id, label in (extra or {}).items():
        validate_intent_id(intent_id)
        if intent_id in BUILTIN_INTENTS:
            raise InvalidInput(
                f"intent {intent_id!r} is built in and cannot be redefined",
                detail={"intent": intent_id},
            )
        merged.append(Intent(id=intent_id, label=label.strip() or intent_id, builtin=False))
    return merged


def intent_label(intent_id: str, taxonomy: list[Intent] | None = None) -> str:
    """Human label for an intent id (the id itself when unknown, e.g. ``unsure``)."""
    for intent in taxonomy or builtin_taxonomy():
        if intent.id == intent_id:
            return intent.label
    return intent_id
