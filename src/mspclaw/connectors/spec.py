"""Connector specs: the small declarative file beside every adapter (name, kind, capabilities,
config and auth schema, release stage, rate limit, default mappings) and its validation.

A capability a vendor lacks is declared with ``supported: false`` and a ``reason``; the
conformance kit reports it as not applicable with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mspclaw.connectors.errors import ConfigInvalid

Capability = Literal["tickets", "directory", "alerts", "scripts", "devices", "webhooks"]
CAPABILITIES: tuple[Capability, ...] = (
    "tickets",
    "directory",
    "alerts",
    "scripts",
    "devices",
    "webhooks",
)
ConnectorKind = Literal["psa", "rmm", "identity", "notify"]
SECRET_MARK = "x-secret"  # noqa: S105 - the schema keyword, not a secret


class CapabilityDeclaration(BaseModel):
    """Whether a capability group is implemented, and why not when it is not."""

    model_config = ConfigDict(extra="forbid")

    supported: bool
    reason: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _absent_needs_reason(self) -> CapabilityDeclaration:
        if not self.supported and not (self.reason and self.reason.strip()):
            raise ValueError("an absent capability must say why (reason)")
        return self


class RateLimit(BaseModel):
    """The vendor's published request budget; ``None`` fields mean nothing is published."""

    model_config = ConfigDict(extra="forbid")

    requests: int
    per_seconds: float
    burst: int | None = None
    source: str | None = None

    @property
    def per_second(self) -> float:
        """Sustained requests per second."""
        return self.requests / self.per_seconds


class AuthSchema(BaseModel):
    """How the connector authenticates: a type plus free-form facts for the UI and docs."""

    model_config = ConfigDict(extra="allow")

    type: Literal["bearer_token", "basic", "oauth2_client_credentials", "api_key", "none"]


class DefaultMappings(BaseModel):
    """Vendor value → normalised value defaults a new connection starts from."""

    model_config = ConfigDict(extra="forbid")

    status: dict[str, str] = Field(default_factory=dict)
    priority: dict[str, str] = Field(default_factory=dict)


class ConnectorSpec(BaseModel):
    """The declarative half of a connector."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    kind: ConnectorKind
    also: list[ConnectorKind] = Field(default_factory=list)
    release_stage: Literal["alpha", "beta", "generally_available", "deprecated"]
    vendor_docs: str | None = None
    capabilities: dict[Capability, CapabilityDeclaration]
    config_schema: dict[str, Any]
    auth: AuthSchema
    rate_limit: RateLimit | None = None
    default_mappings: DefaultMappings = Field(default_factory=DefaultMappings)

    @model_validator(mode="after")
    def _check(self) -> ConnectorSpec:
        missing = [c for c in CAPABILITIES if c not in self.capabilities]
        if missing:
            raise ValueError(f"capabilities must declare every group; missing: {missing}")
        jsonschema.Draft202012Validator.check_schema(self.config_schema)
        if self.config_schema.get("type") != "object":
            raise ValueError("config_schema must describe an object")
        return self

    def supports(self, capability: Capability) -> bool:
        """Whether the connector claims this capability group."""
        return self.capabilities[capability].supported

    def absent_reason(self, capability: Capability) -> str | None:
        """Why a capability is absent (``None`` when it is supported)."""
        decl = self.capabilities[capability]
        return None if decl.supported else decl.reason

    def secret_fields(self) -> list[str]:
        """Config properties marked secret (``x-secret: true``): these go to the vault."""
        props: dict[str, Any] = self.config_schema.get("properties", {})
        return [name for name, schema in props.items() if schema.get(SECRET_MARK) is True]

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check settings against the schema; the error lists fields, never their values."""
        validator = jsonschema.Draft202012Validator(self.config_schema)
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.path))
        if errors:
            problems = [{"field": ".".join(str(p) for p in e.path) or "(root)", "problem": e.validator} for e in errors]
            missing = [str(e.message).split("'")[1] for e in errors if e.validator == "required" and "'" in e.message]
            raise ConfigInvalid(
                f"{self.title} settings are incomplete or invalid"
                + (f" (missing: {', '.join(missing)})" if missing else ""),
                detail=problems,
            )
        return dict(config)

    def redact_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The settings with secret fields masked, for display and audit."""
        secret = set(self.secret_fields())
        return {k: ("***" if k in secret and v else v) for k, v in config.items()}


def load_spec(path: Path) -> ConnectorSpec:
    """Read and validate a spec file (YAML or JSON; YAML is a superset)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ConnectorSpec.model_validate(data)
