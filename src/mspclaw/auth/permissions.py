"""The one permission table: which role may do what. Routes check permissions only here.

Permissions are ``<area>.<verb>`` strings; API keys carry a subset of their creator's
permissions as scopes, so a key can be narrower than its creator but never wider.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Technician roles, most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    ENGINEER = "engineer"
    APPROVER = "approver"
    VIEWER = "viewer"


READ = {
    "tenant.read",
    "clients.read",
    "devices.read",
    "contacts.read",
    "technicians.read",
    "audit.read",
    "tickets.read",
    "runs.read",
    "playbooks.read",
    "connections.read",
    "triage.read",
}

ENGINEER = READ | {
    "clients.write",
    "devices.write",
    "contacts.write",
    "tickets.write",
    "runs.start",
    "runs.cancel",
    "runs.answer",
    "playbooks.write",
    "triage.run",
    "tools.run.read",
    "tools.run.change",
    "agents.enroll",
    "identity.read",
    "notify.send",
    "feedback.write",
}

APPROVER = READ | {"runs.approve"}

ADMIN = (
    ENGINEER
    | APPROVER
    | {
        "technicians.write",
        "apikeys.read",
        "apikeys.write",
        "vault.read",
        "vault.write",
        "connections.write",
        "tools.run.destructive",
        "identity.write",
        "audit.verify",
        "agents.revoke",
        "loop.configure",
    }
)

OWNER = ADMIN | {"tenant.write", "technicians.grant_owner"}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(OWNER),
    Role.ADMIN: frozenset(ADMIN),
    Role.ENGINEER: frozenset(ENGINEER),
    Role.APPROVER: frozenset(APPROVER),
    Role.VIEWER: frozenset(READ),
}

ALL_PERMISSIONS: frozenset[str] = frozenset(OWNER)


def permissions_for(role: Role | str) -> frozenset[str]:
    """Every permission a role grants."""
    return ROLE_PERMISSIONS[Role(role)]


def role_can(role: Role | str, permission: str) -> bool:
    """True when ``role`` grants ``permission``."""
    return permission in permissions_for(role)
