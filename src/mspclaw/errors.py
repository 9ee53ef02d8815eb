"""The root of MSPclaw's error hierarchy.

Every layer derives its own small family from :class:`MSPclawError`; the API turns any of
them into a typed problem response ``{"error": code, "message": ..., "detail": ...}``.
"""

from __future__ import annotations

from typing import Any


class MSPclawError(Exception):
    """An error a person can act on: a stable code, a human message, optional detail."""

    code: str = "error"
    status_code: int = 400

    def __init__(self, message: str, *, detail: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(MSPclawError):
    """The object does not exist, or exists in another tenant (never said which)."""

    code = "not_found"
    status_code = 404


class Conflict(MSPclawError):
    """The request clashes with existing state (duplicate name, wrong run state, ...)."""

    code = "conflict"
    status_code = 409


class InvalidInput(MSPclawError):
    """The input is well-formed but not acceptable; the message says what to change."""

    code = "invalid_input"
    status_code = 422


class PermissionDenied(MSPclawError):
    """The caller is known but lacks the permission for this action."""

    code = "permission_denied"
    status_code = 403


class Unauthenticated(MSPclawError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status_code = 401
