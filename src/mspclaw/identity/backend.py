"""The executor's ``identity`` backend: catalog identity tools onto the client's directory.

It re-checks caller verification itself (defence in depth: even a mis-wired executor cannot
reset a password for an unverified caller), and hands a generated password only to a one-time
view; outputs, audit events and logs carry that it happened, never the password.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from mspclaw_agent.tools import ToolOutcome
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.audit import service as audit
from mspclaw.audit.service import Actor
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.identity import delivery, verification
from mspclaw.identity.base import Directory
from mspclaw.identity.models import Verification
from mspclaw.identity.notify import Channel, DeliveryFailed, Notifier
from mspclaw.identity.resolver import IdentityEndpoints, resolve_directory
from mspclaw.tenancy.models import Client, Contact
from mspclaw.tenancy.policy import ClientPolicy, ClientStack
from mspclaw.tools.backends import ToolContext
from mspclaw.tools.spec import BackendKind, ToolSpec
from mspclaw.vault.keys import Keyring

log = structlog.get_logger(__name__)
Operation = Callable[[Directory, Any], Awaitable[dict[str, Any]]]


async def _lookup(d: Directory, a: Any) -> dict[str, Any]:
    return (await d.lookup_user(a.user)).model_dump(mode="json")


async def _unlock(d: Directory, a: Any) -> dict[str, Any]:
    await d.unlock_account(a.user)
    return {"user": a.user, "locked": False}


async def _disable(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_enabled(a.user, False)
    return {"user": a.user, "enabled": False}


async def _enable(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_enabled(a.user, True)
    return {"user": a.user, "enabled": True}


async def _revoke(d: Directory, a: Any) -> dict[str, Any]:
    await d.revoke_sessions(a.user)
    return {"user": a.user, "sessions_revoked": True}


async def _mfa(d: Directory, a: Any) -> dict[str, Any]:
    return {"user": a.user, "methods_removed": await d.require_mfa_reregistration(a.user)}


async def _add_member(d: Directory, a: Any) -> dict[str, Any]:
    await d.add_group_member(a.user, a.group)
    return {"user": a.user, "group": a.group, "member": True}


async def _remove_member(d: Directory, a: Any) -> dict[str, Any]:
    await d.remove_group_member(a.user, a.group)
    return {"user": a.user, "group": a.group, "member": False}


async def _forward(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_mail_forwarding(a.user, a.forward_to, a.keep_copy)
    return {"user": a.user, "forwarding_to": a.forward_to, "keep_copy": a.keep_copy}


async def _unforward(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_mail_forwarding(a.user, None)
    return {"user": a.user, "forwarding_to": None}


async def _assign(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_license(a.user, a.sku, True)
    return {"user": a.user, "sku": a.sku, "assigned": True}


async def _unassign(d: Directory, a: Any) -> dict[str, Any]:
    await d.set_license(a.user, a.sku, False)
    return {"user": a.user, "sku": a.sku, "assigned": False}


OPERATIONS: dict[str, Operation] = {
    "lookup_user": _lookup,
    "unlock_account": _unlock,
    "disable_account": _disable,
    "enable_account": _enable,
    "revoke_sessions": _revoke,
    "require_mfa_reregistration": _mfa,
    "add_group_member": _add_member,
    "remove_group_member": _remove_member,
    "set_mail_forwarding": _forward,
    "clear_mail_forwarding": _unforward,
    "assign_license": _assign,
    "remove_license": _unassign,
}
SUPPORTED_TOOLS = frozenset(OPERATIONS) | {"reset_password"}


class IdentityBackend:
    """Runs identity tools for the client in the ToolContext (kind ``identity``)."""

    kind: BackendKind = "identity"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Callable[[], Keyring],
        notifier: Notifier | None,
        *,
        endpoints: IdentityEndpoints | None = None,
        view_url: str = "http://localhost:8000/api/v1/v/{token}",
    ) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.notifier = notifier
        self.endpoints = endpoints or IdentityEndpoints()
        self.view_url = view_url

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Validate, verify the caller where policy asks, resolve the directory and act."""
        started = time.monotonic()

        def outcome(ok: bool, output: dict[str, Any], error: str | None = None) -> ToolOutcome:
            return ToolOutcome(
                tool=tool.name, ok=ok, output=output, error=error, duration_ms=int((time.monotonic() - started) * 1000)
            )

        if tool.name not in SUPPORTED_TOOLS:
            return outcome(False, {}, f"{tool.name} is not carried out by the identity backend")
        parsed = tool.validate_args(args)
        if context.tenant_id is None or context.client_id is None:
            return outcome(False, {}, f"{tool.name} needs a client: the run has no client")
        try:
            directory, verified = await self._prepare(tool, parsed.user, context)  # type: ignore[attr-defined]
            try:
                if tool.name == "reset_password":
                    output = await self._reset(directory, parsed, context, verified)
                else:
                    output = await OPERATIONS[tool.name](directory, parsed)
            finally:
                await directory.aclose()
        except MSPclawError as exc:
            log.info("identity.tool_failed", tool=tool.name, error_code=exc.code)
            return outcome(False, {}, exc.message)
        return outcome(True, output)

    async def _prepare(self, tool: ToolSpec, user: str, context: ToolContext) -> tuple[Directory, Verification | None]:
        assert context.client_id is not None
        async with tenant_session(self.sessions, context.tenant_id) as session, session.begin():
            client = await session.get(Client, context.client_id)
            if client is None:
                raise MSPclawError("the run's client no longer exists")
            policy = ClientPolicy.model_validate(client.policy or {})
            verified = None
            if verification.verification_required(tool, policy):
                if context.run_id is None or not await verification.is_verified(
                    session, run_id=context.run_id, user=user
                ):
                    raise verification.VerificationError(
                        f"{tool.name} needs the caller verified first: verify {user} in this run "
                        "(code to the contact's phone or e-mail on record, push to their device, "
                        "or technician attestation)",
                        detail={"user": user, "run_id": str(context.run_id)},
                    )
                verified = await verification.latest_verified(session, run_id=context.run_id, user=user)
            directory = await resolve_directory(
                session,
                self.keyring(),
                client_id=client.id,
                client_name=client.name,
                stack=ClientStack.model_validate(client.stack or {}),
                endpoints=self.endpoints,
            )
        return directory, verified

    async def _reset(
        self, directory: Directory, args: Any, context: ToolContext, verified: Verification | None
    ) -> dict[str, Any]:
        password = delivery.generate_password(args.length)
        await directory.reset_password(args.user, password, force_change=args.require_change_at_next_sign_in)
        ring = self.keyring()
        async with tenant_session(self.sessions, context.tenant_id) as session, session.begin():
            view, token = await delivery.create_view(
                session, ring, user=args.user, secret=password, run_id=context.run_id
            )
            del password  # from here on only the view holds it
            delivered = await self._deliver(session, verified, token)
            await audit.record(
                session,
                actor=Actor("automation", str(context.run_id) if context.run_id else None, context.actor),
                action="identity.password_reset",
                target_type="identity_user",
                target_id=args.user.lower(),
                detail={
                    "provider": directory.provider,
                    "run_id": str(context.run_id),
                    "step_id": context.step_id,
                    "force_change": args.require_change_at_next_sign_in,
                    "verification": verified.method if verified else "not required by policy",
                    "verified_by": verified.verified_by if verified else None,
                    "delivery": delivered,
                    "secret_view_id": str(view.id),
                },
            )
        return {
            "user": args.user,
            "provider": directory.provider,
            "must_change_at_next_sign_in": args.require_change_at_next_sign_in,
            "delivery": delivered,
            "secret_view_id": str(view.id),
            "view_expires_at": view.expires_at.isoformat(),
        }

    async def _deliver(self, session: AsyncSession, verified: Verification | None, token: str) -> str:
        """Send the view link to the verified contact on record, or leave it for the technician."""
        contact = await session.get(Contact, verified.contact_id) if verified and verified.contact_id else None
        if contact is None or self.notifier is None:
            return "technician: reveal once via GET /api/v1/identity/secret-views/{id}"
        channel: Channel = "sms" if verified and verified.method == "otp_sms" and contact.phone else "email"
        target = contact.phone if channel == "sms" else contact.email
        if not target:
            return "technician: reveal once via GET /api/v1/identity/secret-views/{id}"
        try:
            await self.notifier.send(
                channel,
                target,
                "Your temporary password",
                "IT support reset your password. Open this link once to see your temporary password "
                f"(it works once, for 24 hours): {self.view_url.format(token=token)}",
            )
        except DeliveryFailed as exc:
            log.warning("identity.delivery_failed", channel=channel, error=exc.message)
            return "technician: reveal once via GET /api/v1/identity/secret-views/{id} (sending the link failed)"
        return f"one-time link sent by {channel} to {verification.mask(channel, target)}"
