"""Imports every domain's tables so metadata (and Alembic) sees the whole schema."""

from mspclaw.agents.models import DeviceCredential, DeviceMemory, EnrollmentToken, GatewaySpill
from mspclaw.audit.models import AuditEvent
from mspclaw.auth.models import ApiKey, LoginSession, Technician
from mspclaw.identity.models import SecretView, Verification  # noqa: F401 - identity tables
from mspclaw.loop.models import LoopAction, LoopConnectionSettings, NotificationDelivery, NotifyTarget, RunFeedback
from mspclaw.reasoning.store import LLMSettings, LLMUsage
from mspclaw.runs.models import Approval, Question, Run, RunStep
from mspclaw.sync import models as sync_models  # noqa: F401 - sync and tickets tables
from mspclaw.tenancy.models import Client, Contact, Device, Site, Tenant
from mspclaw.triage import models as triage_models  # noqa: F401 - triage results, embeddings, labels, models
from mspclaw.vault.models import Secret

__all__ = [
    "ApiKey",
    "Approval",
    "AuditEvent",
    "Client",
    "Contact",
    "Device",
    "DeviceCredential",
    "DeviceMemory",
    "EnrollmentToken",
    "GatewaySpill",
    "LLMSettings",
    "LLMUsage",
    "LoginSession",
    "LoopAction",
    "LoopConnectionSettings",
    "NotificationDelivery",
    "NotifyTarget",
    "Question",
    "Run",
    "RunFeedback",
    "RunStep",
    "Secret",
    "Site",
    "Technician",
    "Tenant",
]
