"""Errors a connector raises: one small family under :class:`mspclaw.errors.MSPclawError`.

Routes turn these into problem responses; ``test_connection`` turns them into a human reason.
Messages never contain secrets (the HTTP client redacts before building them).
"""

from __future__ import annotations

from typing import Any, Literal

from mspclaw.errors import MSPclawError


class ConnectorError(MSPclawError):
    """Something went wrong talking to a vendor product."""

    code = "connector_error"
    status_code = 502


class ConfigInvalid(ConnectorError):
    """The connection settings do not satisfy the connector's config schema."""

    code = "connector_config_invalid"
    status_code = 422


class RateLimited(ConnectorError):
    """The vendor throttled us and the retry budget ran out before it let us through."""

    code = "connector_rate_limited"
    status_code = 503

    def __init__(self, message: str, *, retry_after: float | None = None, detail: Any = None):
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class AuthFailed(ConnectorError):
    """The vendor rejected the credentials (bad, revoked or expired)."""

    code = "connector_auth_failed"
    status_code = 422


class MissingPermission(ConnectorError):
    """The credentials are valid but the vendor role lacks a permission we need."""

    code = "connector_missing_permission"
    status_code = 422


class WrongUrl(ConnectorError):
    """The configured URL does not lead to the vendor's API (unreachable, 404, not JSON)."""

    code = "connector_wrong_url"
    status_code = 422


class NotFound(ConnectorError):
    """The vendor says the object does not exist."""

    code = "connector_not_found"
    status_code = 404


class VendorError(ConnectorError):
    """The vendor answered with an error we cannot act on (5xx, validation, malformed body)."""

    code = "connector_vendor_error"
    status_code = 502


class UnmappedValue(ConnectorError):
    """A normalised value has no vendor value in this connection's mapping (or vice versa).

    Raised on write-back instead of guessing; reads record the value in the mapping's
    unmapped report instead of raising.
    """

    code = "connector_unmapped_value"
    status_code = 422


WebhookRejection = Literal["forged", "stale", "replayed", "malformed"]


class WebhookRejected(ConnectorError):
    """An inbound webhook delivery failed verification; ``reason`` says which check."""

    code = "webhook_rejected"
    status_code = 401

    def __init__(self, message: str, *, reason: WebhookRejection, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.reason: WebhookRejection = reason
