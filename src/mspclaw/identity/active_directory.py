"""On-premises Active Directory over LDAPS with ldap3: the attribute-level semantics AD uses.

Passwords go into ``unicodePwd`` (UTF-16-LE, quoted; AD only accepts it over an encrypted
connection), lockouts clear with ``lockoutTime=0``, sign-in is the ACCOUNTDISABLE bit of
``userAccountControl``, and groups change through their ``member`` attribute. ldap3 is
blocking, so every operation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from mspclaw.identity.base import DirectoryUser, IdentityError, UserNotFound, unsupported

T = TypeVar("T")
ACCOUNTDISABLE = 0x0002
UF_LOCKOUT = 0x0010
_USER_ATTRS = [
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "userAccountControl",
    "lockoutTime",
    "memberOf",
    "pwdLastSet",
    "manager",
    "msDS-User-Account-Control-Computed",
]


def base_dn(domain: str) -> str:
    """``corp.example.com`` -> ``DC=corp,DC=example,DC=com``."""
    return ",".join(f"DC={part}" for part in domain.strip(".").split("."))


def _first(entry: dict[str, Any], name: str) -> Any:
    value = entry.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _cn(dn: str) -> str:
    head = dn.split(",", 1)[0]
    return head.split("=", 1)[1] if "=" in head else head


def _filetime(value: Any) -> str | None:
    # ldap3 decodes AD large-integer times to datetimes; 0 / 1601 means "never" / "must change".
    if isinstance(value, datetime):
        return None if value.year <= 1601 else value.astimezone(UTC).isoformat()
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp((value - 116444736000000000) / 10_000_000, UTC).isoformat()
    return None


@dataclass(frozen=True)
class ADSettings:
    """Where and how to bind: ``url`` is ``ldaps://host[:port]``; ``ca_pem`` pins the DC's CA."""

    url: str
    domain: str
    bind_user: str
    bind_password: str
    ca_pem: str | None = None
    verify_tls: bool = True
    timeout: int = 10


class ActiveDirectory:
    """One AD domain reached over LDAPS; each call binds, acts and unbinds."""

    provider = "active_directory"

    def __init__(self, settings: ADSettings) -> None:
        if not settings.url.lower().startswith("ldaps://"):
            # unicodePwd writes are refused in clear text, and bind passwords must not travel unencrypted
            raise IdentityError("the Active Directory URL must be ldaps://", detail={"url": settings.url})
        self.settings = settings
        self.base = base_dn(settings.domain)

    # ------------------------------------------------------------ plumbing

    def _connect(self) -> Connection:
        s = self.settings
        hostport = s.url[len("ldaps://") :].rstrip("/")
        host, _, port = hostport.partition(":")
        tls = Tls(
            validate=ssl.CERT_REQUIRED if s.verify_tls else ssl.CERT_NONE,
            ca_certs_data=s.ca_pem,
        )
        server = Server(host, port=int(port or 636), use_ssl=True, tls=tls, connect_timeout=int(s.timeout))
        conn = Connection(server, user=s.bind_user, password=s.bind_password, receive_timeout=int(s.timeout))
        try:
            if not conn.bind():
                raise IdentityError(
                    "the directory refused the service account's bind (check the bind user and password in the vault)",
                    detail={"result": conn.result.get("description")},
                )
        except LDAPException as exc:
            raise IdentityError(f"cannot reach the domain controller: {exc}", detail={"url": s.url}) from None
        return conn

    async def _run(self, work: Callable[[Connection], T]) -> T:
        def job() -> T:
            conn = self._connect()
            try:
                return work(conn)
            except LDAPException as exc:
                raise IdentityError(f"LDAP operation failed: {exc}") from None
            finally:
                conn.unbind()

        return await asyncio.to_thread(job)

    def _find(self, conn: Connection, user: str) -> tuple[str, dict[str, Any]]:
        ref = escape_filter_chars(user)
        query = f"(&(objectClass=user)(!(objectClass=computer))(|(sAMAccountName={ref})(userPrincipalName={ref})))"
        conn.search(self.base, query, SUBTREE, attributes=_USER_ATTRS)
        if not conn.entries:
            raise UserNotFound(f"no Active Directory user {user!r}", detail={"user": user})
        entry = conn.entries[0]
        return entry.entry_dn, entry.entry_attributes_as_dict

    def _find_group(self, conn: Connection, group: str) -> str:
        ref = escape_filter_chars(group)
        conn.search(self.base, f"(&(objectClass=group)(|(cn={ref})(sAMAccountName={ref})))", SUBTREE, attributes=["cn"])
        if not conn.entries:
            raise UserNotFound(f"no Active Directory group {group!r}", detail={"group": group})
        return str(conn.entries[0].entry_dn)

    @staticmethod
    def _modify(conn: Connection, dn: str, changes: dict[str, Any], what: str) -> None:
        if not conn.modify(dn, changes):
            why = conn.result.get("message") or conn.result.get("description")
            raise IdentityError(
                f"the domain controller refused to {what}: {why}",
                detail={"result": conn.result.get("description")},
            )

    # ------------------------------------------------------------ operations

    async def lookup_user(self, user: str) -> DirectoryUser:
        def work(conn: Connection) -> DirectoryUser:
            dn, attrs = self._find(conn, user)
            uac = int(_first(attrs, "userAccountControl") or 0)
            computed = _first(attrs, "msDS-User-Account-Control-Computed")
            lockout = _first(attrs, "lockoutTime")
            locked = bool(int(computed) & UF_LOCKOUT) if computed is not None else _filetime(lockout) is not None
            manager = _first(attrs, "manager")
            return DirectoryUser(
                id=dn,
                user=str(_first(attrs, "userPrincipalName") or _first(attrs, "sAMAccountName")),
                display_name=_first(attrs, "displayName"),
                enabled=not uac & ACCOUNTDISABLE,
                locked=locked,
                groups=sorted(_cn(g) for g in attrs.get("memberOf", [])),
                manager=_cn(manager) if manager else None,
                password_last_set=_filetime(_first(attrs, "pwdLastSet")),
            )

        return await self._run(work)

    async def reset_password(self, user: str, password: str, *, force_change: bool) -> None:
        encoded = f'"{password}"'.encode("utf-16-le")

        def work(conn: Connection) -> None:
            dn, _ = self._find(conn, user)
            self._modify(conn, dn, {"unicodePwd": [(MODIFY_REPLACE, [encoded])]}, "set the password")
            if force_change:
                self._modify(conn, dn, {"pwdLastSet": [(MODIFY_REPLACE, [0])]}, "require a change at next sign-in")

        await self._run(work)

    async def unlock_account(self, user: str) -> None:
        def work(conn: Connection) -> None:
            dn, _ = self._find(conn, user)
            self._modify(conn, dn, {"lockoutTime": [(MODIFY_REPLACE, [0])]}, "clear the lockout")

        await self._run(work)

    async def set_enabled(self, user: str, enabled: bool) -> None:
        def work(conn: Connection) -> None:
            dn, attrs = self._find(conn, user)
            uac = int(_first(attrs, "userAccountControl") or 512)
            # flip only the disable bit so other flags (e.g. password-never-expires) survive
            new = uac & ~ACCOUNTDISABLE if enabled else uac | ACCOUNTDISABLE
            self._modify(conn, dn, {"userAccountControl": [(MODIFY_REPLACE, [new])]}, "change the account state")

        await self._run(work)

    async def _membership(self, user: str, group: str, op: str) -> None:
        def work(conn: Connection) -> None:
            dn, _ = self._find(conn, user)
            group_dn = self._find_group(conn, group)
            conn.search(group_dn, f"(member={escape_filter_chars(dn)})", BASE, attributes=["cn"])
            present = bool(conn.entries)
            if (op == MODIFY_ADD) == present:
                return  # already in the wanted state: group changes are idempotent
            self._modify(conn, group_dn, {"member": [(op, [dn])]}, "change the group membership")

        await self._run(work)

    async def add_group_member(self, user: str, group: str) -> None:
        await self._membership(user, group, MODIFY_ADD)

    async def remove_group_member(self, user: str, group: str) -> None:
        await self._membership(user, group, MODIFY_DELETE)

    async def revoke_sessions(self, user: str) -> None:
        raise unsupported(self.provider, "revoke_sessions", "Kerberos tickets expire on their own; reset the password")

    async def require_mfa_reregistration(self, user: str) -> int:
        raise unsupported(self.provider, "require_mfa_reregistration", "MFA lives in the cloud identity provider")

    async def set_license(self, user: str, sku: str, assigned: bool) -> None:
        raise unsupported(self.provider, "licences", "on-premises AD has no licences")

    async def set_mail_forwarding(self, user: str, forward_to: str | None, keep_copy: bool = True) -> None:
        raise unsupported(self.provider, "mail forwarding", "configure it in Exchange, not in the directory")

    async def aclose(self) -> None:
        return None
