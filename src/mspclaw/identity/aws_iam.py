"""AWS IAM users through boto3: console password, access keys, groups, MFA devices.

IAM has no lockout and no licences; "disable" takes the console password away and deactivates
every access key, which is what an incident responder does by hand. boto3 is blocking, so
each operation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mspclaw.identity.base import DirectoryUser, IdentityError, UserNotFound, unsupported

T = TypeVar("T")
REVOKE_POLICY = "AWSRevokeOlderSessions"


@dataclass(frozen=True)
class AWSSettings:
    """Credentials of the MSP's IAM principal in the client account; ``endpoint_url`` for tests."""

    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    endpoint_url: str | None = None


class AWSIAM:
    """One AWS account's IAM users."""

    provider = "aws_iam"

    def __init__(self, settings: AWSSettings) -> None:
        self._client = boto3.client(
            "iam",
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=30),
        )

    async def _run(self, user: str, work: Callable[[Any], T]) -> T:
        def job() -> T:
            try:
                return work(self._client)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                if err.get("Code") == "NoSuchEntity":
                    raise UserNotFound(f"IAM: {err.get('Message')}", detail={"user": user}) from None
                raise IdentityError(f"IAM refused: {err.get('Message') or err.get('Code')}") from None
            except BotoCoreError as exc:
                raise IdentityError(f"cannot reach IAM: {exc}") from None

        return await asyncio.to_thread(job)

    async def lookup_user(self, user: str) -> DirectoryUser:
        def work(iam: Any) -> DirectoryUser:
            found = iam.get_user(UserName=user)["User"]
            groups = [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]]
            keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
            mfa = [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]]
            try:
                iam.get_login_profile(UserName=user)
                console = True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                console = False
            active = sum(1 for k in keys if k["Status"] == "Active")
            return DirectoryUser(
                id=found["Arn"],
                user=found["UserName"],
                enabled=console or active > 0,
                groups=sorted(groups),
                mfa_methods=mfa,
                access_keys_active=active,
            )

        return await self._run(user, work)

    async def reset_password(self, user: str, password: str, *, force_change: bool) -> None:
        def work(iam: Any) -> None:
            try:
                iam.update_login_profile(UserName=user, Password=password, PasswordResetRequired=force_change)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                iam.get_user(UserName=user)  # a missing user stays "not found", not "no console access"
                iam.create_login_profile(UserName=user, Password=password, PasswordResetRequired=force_change)

        await self._run(user, work)

    async def unlock_account(self, user: str) -> None:
        raise unsupported(self.provider, "unlock_account", "IAM users are never locked out")

    async def set_enabled(self, user: str, enabled: bool) -> None:
        def work(iam: Any) -> None:
            status = "Active" if enabled else "Inactive"
            for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status=status)
            if not enabled:
                try:
                    iam.delete_login_profile(UserName=user)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                        raise

        await self._run(user, work)

    async def add_group_member(self, user: str, group: str) -> None:
        await self._run(user, lambda iam: iam.add_user_to_group(UserName=user, GroupName=group))

    async def remove_group_member(self, user: str, group: str) -> None:
        await self._run(user, lambda iam: iam.remove_user_from_group(UserName=user, GroupName=group))

    async def revoke_sessions(self, user: str) -> None:
        # The documented way: deny everything to credentials issued before now.
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}},
                }
            ],
        }
        await self._run(
            user,
            lambda iam: iam.put_user_policy(UserName=user, PolicyName=REVOKE_POLICY, PolicyDocument=json.dumps(policy)),
        )

    async def require_mfa_reregistration(self, user: str) -> int:
        def work(iam: Any) -> int:
            devices = iam.list_mfa_devices(UserName=user)["MFADevices"]
            for device in devices:
                iam.deactivate_mfa_device(UserName=user, SerialNumber=device["SerialNumber"])
            return len(devices)

        return await self._run(user, work)

    async def set_license(self, user: str, sku: str, assigned: bool) -> None:
        raise unsupported(self.provider, "licences", "IAM has no licences")

    async def set_mail_forwarding(self, user: str, forward_to: str | None, keep_copy: bool = True) -> None:
        raise unsupported(self.provider, "mail forwarding", "IAM has no mailboxes")

    async def aclose(self) -> None:
        return None
