"""Who is calling: the principal every route receives, with its tenant and permissions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mspclaw.audit.service import Actor
from mspclaw.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, always inside exactly one tenant."""

    tenant_id: uuid.UUID
    actor: Actor
    permissions: frozenset[str]
    role: str | None = None
    technician_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    def can(self, permission: str) -> bool:
        """True when the principal holds ``permission``."""
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise PermissionDenied naming the missing permission."""
        if permission not in self.permissions:
            raise PermissionDenied(
                f"this action needs the '{permission}' permission, which your role or API key lacks",
                detail={"permission": permission},
            )
