"""Identity-side tools (accounts, MFA, groups, mail): argument models and catalog entries.

Their backends (Microsoft Graph, Active Directory, Google Workspace, AWS IAM) live in the
identity package; here they are declared so playbooks lint, dry-run and pass policy checks.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mspclaw.tools.spec import BackendRef, ToolSpec, UndoSpec

_USER = re.compile(r"^[A-Za-z0-9._%+'-]+(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$")
_GROUP = re.compile(r"^[A-Za-z0-9 ._@()&'-]{1,128}$")


def _user(value: str) -> str:
    if not _USER.fullmatch(value):
        raise ValueError("must be a user principal name / e-mail or a sAMAccountName")
    return value


def _group(value: str) -> str:
    if not _GROUP.fullmatch(value):
        raise ValueError("must be a group name: letters, digits, space and . _ @ ( ) & ' -")
    return value


UserRef = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_user)]
GroupRef = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_group)]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an e-mail address")
    return value


Email = Annotated[str, Field(min_length=3, max_length=256), AfterValidator(_email)]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserArgs(_Args):
    user: UserRef


class ResetPasswordArgs(_Args):
    user: UserRef
    require_change_at_next_sign_in: bool = True
    length: int = Field(16, ge=12, le=64, description="length of the generated temporary password")


class GroupMemberArgs(_Args):
    user: UserRef
    group: GroupRef


class MailForwardingArgs(_Args):
    user: UserRef
    forward_to: Email
    keep_copy: bool = True


class CreateAccountArgs(_Args):
    user: UserRef
    display_name: str = Field(min_length=1, max_length=128)
    department: str | None = Field(None, max_length=128)
    job_title: str | None = Field(None, max_length=128)
    manager: UserRef | None = None


class LicenseArgs(_Args):
    user: UserRef
    sku: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="licence SKU part number")


class MailboxAccessArgs(_Args):
    user: UserRef
    mailbox: UserRef
    access: Literal["read", "full", "send_as"] = "full"


class DeviceWipeArgs(_Args):
    device: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="device name or id")
    keep_enrolment: bool = False


_IDENTITY = (BackendRef(kind="identity"),)


def _identity(
    name: str,
    description: str,
    args_model: type[BaseModel],
    risk: Literal["read", "change", "destructive"],
    *,
    undo: UndoSpec | None = None,
    verify: str | None = None,
    sensitive: tuple[str, ...] = (),
) -> ToolSpec:
    return ToolSpec(
        name=name,
        version="1.0.0",
        description=description,
        args_model=args_model,
        risk=risk,
        permission="identity.read" if risk == "read" else "identity.write",
        backends=_IDENTITY,
        undo=undo,
        verification_hint=verify,
        sensitive_fields=sensitive,
    )


_USER_ARG = {"user": "args.user"}
_MEMBER_ARGS = {"user": "args.user", "group": "args.group"}

IDENTITY_TOOLS: list[ToolSpec] = [
    _identity(
        "lookup_user",
        "Account state: enabled, locked, MFA methods, groups, mailbox.",
        UserArgs,
        "read",
    ),
    _identity(
        "reset_password",
        "Set a generated temporary password; output holds it (secret).",
        ResetPasswordArgs,
        "change",
        verify="lookup_user shows password_last_set updated",
        sensitive=("temporary_password",),
    ),
    _identity(
        "unlock_account",
        "Clear an account lockout.",
        UserArgs,
        "change",
        verify="lookup_user shows locked = false",
    ),
    _identity(
        "require_mfa_reregistration",
        "Remove MFA methods so the user registers again.",
        UserArgs,
        "change",
        verify="lookup_user shows no MFA methods",
    ),
    _identity(
        "disable_account",
        "Block sign-in for an account.",
        UserArgs,
        "destructive",
        undo=UndoSpec(tool="enable_account", args=_USER_ARG),
        verify="lookup_user shows enabled = false",
    ),
    _identity(
        "enable_account",
        "Allow sign-in for an account again.",
        UserArgs,
        "change",
        verify="lookup_user shows enabled = true",
    ),
    _identity(
        "revoke_sessions",
        "Sign the user out everywhere (refresh tokens revoked).",
        UserArgs,
        "change",
    ),
    _identity(
        "add_group_member",
        "Add a user to a group.",
        GroupMemberArgs,
        "change",
        undo=UndoSpec(tool="remove_group_member", args=_MEMBER_ARGS),
        verify="lookup_user lists the group",
    ),
    _identity(
        "remove_group_member",
        "Remove a user from a group.",
        GroupMemberArgs,
        "change",
        undo=UndoSpec(tool="add_group_member", args=_MEMBER_ARGS),
        verify="lookup_user no longer lists the group",
    ),
    _identity(
        "set_mail_forwarding",
        "Forward a mailbox to another address.",
        MailForwardingArgs,
        "change",
        undo=UndoSpec(tool="clear_mail_forwarding", args=_USER_ARG),
    ),
    _identity("clear_mail_forwarding", "Stop forwarding a mailbox.", UserArgs, "change"),
    _identity(
        "create_account",
        "Create a user account (with mailbox where the IdP does so).",
        CreateAccountArgs,
        "change",
        undo=UndoSpec(tool="disable_account", args=_USER_ARG),
        verify="lookup_user finds the account",
        sensitive=("temporary_password",),
    ),
    _identity(
        "assign_license",
        "Assign a licence SKU to a user.",
        LicenseArgs,
        "change",
        undo=UndoSpec(tool="remove_license", args={"user": "args.user", "sku": "args.sku"}),
    ),
    _identity(
        "remove_license",
        "Remove a licence SKU from a user.",
        LicenseArgs,
        "change",
        undo=UndoSpec(tool="assign_license", args={"user": "args.user", "sku": "args.sku"}),
    ),
    _identity("mailbox_status", "Mailbox size, quota, archive and forwarding state.", UserArgs, "read"),
    _identity(
        "grant_mailbox_access",
        "Give a user access to a shared mailbox.",
        MailboxAccessArgs,
        "change",
        undo=UndoSpec(
            tool="revoke_mailbox_access",
            args={"user": "args.user", "mailbox": "args.mailbox", "access": "args.access"},
        ),
    ),
    _identity(
        "revoke_mailbox_access",
        "Take a user's access to a shared mailbox away.",
        MailboxAccessArgs,
        "change",
    ),
    _identity(
        "request_device_wipe",
        "Ask the device management service to wipe a device.",
        DeviceWipeArgs,
        "destructive",
    ),
]
