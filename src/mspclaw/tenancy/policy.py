"""The client policy and stack documents, validated by pydantic wherever they are written.

The policy says what may run unattended and what needs a human; the stack says which vendor
products serve the client (identity provider, RMM, PSA ids) so tools resolve their backend.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RiskClass = Literal["read", "change", "destructive"]
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
VerificationMethod = Literal["otp_sms", "otp_email", "agent_push", "technician_attestation"]
ALL_VERIFICATION_METHODS: tuple[VerificationMethod, ...] = (
    "otp_sms",
    "otp_email",
    "agent_push",
    "technician_attestation",
)
READ_ONLY: tuple[RiskClass, ...] = ("read",)


class BusinessHours(BaseModel):
    """When the client's people work; unattended changes may be limited to these hours."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    start: str = Field(default="08:00", pattern=_HHMM, description="Local start time, HH:MM.")
    end: str = Field(default="18:00", pattern=_HHMM, description="Local end time, HH:MM (after start).")
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end_time <= self.start_time:
            raise ValueError("business hours end must be after start")
        return self

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


class BlastRadius(BaseModel):
    """Upper bounds on what one run may touch."""

    model_config = ConfigDict(extra="forbid")

    max_accounts_disabled: int = Field(default=1, ge=0)
    max_devices: int = Field(default=1, ge=1)
    max_password_resets: int = Field(default=1, ge=0)


class ClientPolicy(BaseModel):
    """What automation may do for one client, and what needs a human first."""

    model_config = ConfigDict(extra="forbid")

    auto_run: bool = Field(default=False, description="Allow matched 'auto' playbooks to start without a technician.")
    unattended_risks: list[RiskClass] = Field(
        default_factory=lambda: list(READ_ONLY),
        description="Risk classes that may run without a technician's approval.",
    )
    approval_required_tools: list[str] = Field(default_factory=list, description="Tools that always need approval.")
    forbidden_tools: list[str] = Field(default_factory=list, description="Tools that never run for this client.")
    require_verification: bool = Field(default=True, description="Verify the caller before any credential change.")
    verification_methods: list[VerificationMethod] = Field(default_factory=lambda: list(ALL_VERIFICATION_METHODS))
    four_eyes: bool = Field(default=False, description="The approver may not be the automation's author.")
    unattended_only_in_business_hours: bool = False
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    vip_contacts: list[str] = Field(default_factory=list, description="E-mail addresses of VIP contacts.")
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    approval_timeout_seconds: int = Field(default=300, ge=30, le=86_400)
    sla_tier: Literal["platinum", "gold", "silver", "bronze"] | None = None

    @field_validator("vip_contacts")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
                raise ValueError(f"{value!r} is not an e-mail address")
        return [v.lower() for v in values]


class ClientStack(BaseModel):
    """Which products serve this client, and their ids there."""

    model_config = ConfigDict(extra="forbid")

    identity_provider: Literal["entra", "active_directory", "google_workspace", "aws_iam"] | None = None
    entra_tenant_id: str | None = None
    ad_domain: str | None = None
    google_customer_id: str | None = None
    aws_account_id: str | None = None
    psa_connection_id: str | None = None
    psa_company_id: str | None = None
    rmm_connection_id: str | None = None
    rmm_organization_id: str | None = None
    email_domains: list[str] = Field(default_factory=list)
    settings: dict[str, str | int | float | bool | list[str]] = Field(
        default_factory=dict,
        description=(
            "This client's values that playbooks read with `source: client`, by field name: "
            "vpn_gateway, vpn_port, mail_host, default_license_sku, all_staff_group, cleanup_paths, "
            "cleanup_age_hours, probe_host, ... (see each playbook's inputs)."
        ),
    )

    @field_validator("settings")
    @classmethod
    def _setting_names(cls, values: dict[str, object]) -> dict[str, object]:
        for name in values:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
                raise ValueError(f"setting name {name!r} must be lower_snake_case (a playbook input's field)")
            if name in ("id", "name"):
                raise ValueError(f"setting name {name!r} is reserved: the client's own {name}")
        return values
