"""The offline instruction grammar: the technician commands MSPclaw understands with no LLM.

"verify user via MFA, reset password, text them the temporary one" becomes a verification
method plus an ordered list of proposed tool calls. Pronouns ("them", "the user") resolve to
the ticket contact ON RECORD, never to an address written in the ticket.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mspclaw.errors import InvalidInput
from mspclaw.reasoning.models import InstructionContext, ProposedCall, ProposedPlan, VerificationMethod

EXAMPLES = [
    "reset password for jane@contoso.com",
    "verify user via MFA, reset password, then text them the temporary password",
    "unlock account",
    "restart print spooler on LT-0442",
    "add jane@contoso.com to group Finance",
    "check disk space then clean up temp files",
]


class InstructionNotUnderstood(InvalidInput):
    """Part of an instruction matches no known command."""

    code = "instruction_not_understood"


_USER = r"(?P<user>[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}|[A-Za-z0-9._\-]{2,64})"
_PRONOUN = r"(?:them|him|her|the user|the caller|the contact|user|caller)"
_HOST = r"(?P<host>[A-Za-z0-9][A-Za-z0-9.\-_]{0,252})"
_SPLIT = re.compile(r"\s*(?:[,;]\s*(?:and\s+)?then\b|\bthen\b|[;]|,\s*and\b|,|\.\s+|\band then\b)\s*", re.I)
_ON_HOST = re.compile(rf"\s+on\s+{_HOST}\s*$", re.I)


@dataclass
class _Rule:
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str], InstructionContext], tuple[str, dict[str, Any]] | VerificationMethod]


def _user(match: re.Match[str], context: InstructionContext) -> str:
    user = match.groupdict().get("user")
    if user and not re.fullmatch(_PRONOUN, user, re.I):
        return user
    if context.contact_email:
        return context.contact_email
    raise InstructionNotUnderstood(
        "the instruction does not name a user and the ticket has no contact on record; say 'for name@domain'"
    )


def _channel(word: str) -> str:
    word = word.lower()
    if word in ("text", "sms", "txt"):
        return "sms"
    if word in ("teams",):
        return "teams"
    if word in ("slack",):
        return "slack"
    return "email"


_VERIFY_METHODS: dict[str, VerificationMethod] = {
    "mfa": "agent_push",
    "push": "agent_push",
    "agent": "agent_push",
    "authenticator": "agent_push",
    "sms": "otp_sms",
    "text": "otp_sms",
    "phone": "otp_sms",
    "code": "otp_sms",
    "otp": "otp_sms",
    "email": "otp_email",
    "e-mail": "otp_email",
    "mail": "otp_email",
    "attestation": "technician_attestation",
    "attest": "technician_attestation",
}


def _verify(match: re.Match[str], _context: InstructionContext) -> VerificationMethod:
    method = (match.group("method") or "mfa").lower().replace("the ", "")
    return _VERIFY_METHODS.get(method, "agent_push")


def _message(match: re.Match[str], _context: InstructionContext) -> tuple[str, dict[str, Any]]:
    text = match.group("msg").strip().strip("\"'")
    if re.fullmatch(r"(the\s+)?(temporary|temp|new)(\s+(one|password))?", text, re.I):
        # the secret itself never enters a plan: the user gets a one-time view link
        text = "Your temporary password is ready. Open the one-time link we sent you to view it."
    return "notify_user", {"channel": _channel(match.group("channel")), "message": text}


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*(?:please\s+)?{pattern}\s*\.?\s*$", re.I)


RULES: list[_Rule] = [
    _Rule(
        _r(
            rf"verify\s+(?:the\s+)?{_PRONOUN}(?:'s)?(?:\s+identity)?(?:\s+(?:via|with|by|using|through)\s+"
            r"(?:the\s+)?(?P<method>mfa|push|agent|authenticator|sms|text|phone|code|otp|e-?mail|mail|attestation))?"
        ),
        _verify,
    ),
    _Rule(
        _r(rf"reset\s+(?:the\s+)?(?:{_PRONOUN}(?:'s)?\s+)?password(?:\s+(?:for|of)\s+{_USER})?"),
        lambda m, c: ("reset_password", {"user": _user(m, c)}),
    ),
    _Rule(
        _r(rf"unlock\s+(?:the\s+)?(?:(?:{_PRONOUN}(?:'s)?\s+)?account|{_PRONOUN})?(?:\s+(?:for|of)\s+{_USER})?"),
        lambda m, c: ("unlock_account", {"user": _user(m, c)}),
    ),
    _Rule(_r(rf"unlock\s+{_USER}"), lambda m, c: ("unlock_account", {"user": _user(m, c)})),
    _Rule(
        _r(rf"disable\s+(?:the\s+)?(?:account|user)?\s*(?:for\s+|of\s+)?{_USER}"),
        lambda m, c: ("disable_account", {"user": _user(m, c)}),
    ),
    _Rule(
        _r(rf"(?:enable|re-?enable)\s+(?:the\s+)?(?:account|user)?\s*(?:for\s+|of\s+)?{_USER}"),
        lambda m, c: ("enable_account", {"user": _user(m, c)}),
    ),
    _Rule(
        _r(
            rf"(?:revoke|kill|end)\s+(?:all\s+)?(?:{_PRONOUN}(?:'s)?\s+)?(?:sign-?in\s+)?sessions(?:\s+(?:for|of)\s+{_USER})?"
        ),
        lambda m, c: ("revoke_sessions", {"user": _user(m, c)}),
    ),
    _Rule(
        _r(
            rf"(?:require\s+mfa\s+re-?registration|reset\s+(?:the\s+)?(?:{_PRONOUN}(?:'s)?\s+)?mfa)(?:\s+(?:for|of)\s+{_USER})?"
        ),
        lambda m, c: ("require_mfa_reregistration", {"user": _user(m, c)}),
    ),
    _Rule(
        _r(rf"add\s+{_USER}\s+to\s+(?:the\s+)?(?:group\s+)?(?P<group>[A-Za-z0-9 ._@()&'\-]+?)(?:\s+group)?"),
        lambda m, c: ("add_group_member", {"user": _user(m, c), "group": m.group("group").strip()}),
    ),
    _Rule(
        _r(rf"remove\s+{_USER}\s+from\s+(?:the\s+)?(?:group\s+)?(?P<group>[A-Za-z0-9 ._@()&'\-]+?)(?:\s+group)?"),
        lambda m, c: ("remove_group_member", {"user": _user(m, c), "group": m.group("group").strip()}),
    ),
    _Rule(_r(r"restart\s+(?:the\s+)?print(?:er)?\s+spooler"), lambda m, c: ("restart_print_spooler", {})),
    _Rule(_r(r"(?:clear|purge|empty)\s+(?:the\s+)?print(?:er)?\s+queue"), lambda m, c: ("clear_print_queue", {})),
    _Rule(_r(r"(?:check|show)\s+(?:the\s+)?print(?:er)?\s+queue"), lambda m, c: ("printer_queue_status", {})),
    _Rule(
        _r(r"restart\s+(?:the\s+)?(?P<service>[A-Za-z0-9_.\-]+)\s+service"),
        lambda m, c: ("restart_service", {"service": m.group("service")}),
    ),
    _Rule(_r(r"flush\s+(?:the\s+)?dns(?:\s+cache)?"), lambda m, c: ("flush_dns", {})),
    _Rule(_r(r"(?:check|show)\s+(?:the\s+)?(?:disk\s+(?:space|usage)|free\s+space)"), lambda m, c: ("disk_usage", {})),
    _Rule(_r(r"(?:clean\s*up|clear|delete)\s+(?:the\s+)?temp(?:orary)?\s+files"), lambda m, c: ("cleanup_temp", {})),
    _Rule(_r(r"(?:check|show|get)\s+(?:the\s+)?(?:system\s+info(?:rmation)?|specs)"), lambda m, c: ("system_info", {})),
    _Rule(_r(r"(?:check|show)\s+(?:the\s+)?(?:top\s+)?processes"), lambda m, c: ("top_processes", {})),
    _Rule(_r(r"(?:check|show)\s+(?:the\s+)?wi-?fi(?:\s+status)?"), lambda m, c: ("wifi_status", {})),
    _Rule(_r(r"(?:check|show)\s+(?:the\s+)?(?:pending\s+)?updates"), lambda m, c: ("pending_updates", {})),
    _Rule(_r(r"ping\s+(?P<target>[A-Za-z0-9.\-:]+)"), lambda m, c: ("ping", {"host": m.group("target")})),
    _Rule(
        _r(r"install\s+(?P<package>[A-Za-z0-9_.+\-]+)"),
        lambda m, c: ("install_package", {"package": m.group("package")}),
    ),
    _Rule(
        _r(
            rf"(?P<channel>text|sms|email|e-mail|message|teams|slack)\s+(?:{_PRONOUN}\s+)?(?:with\s+|saying\s+|that\s+|:\s*)?(?P<msg>.+)"
        ),
        _message,
    ),
    _Rule(
        _r(
            rf"send\s+(?:{_PRONOUN}\s+)?(?:a|an)\s+(?P<channel>text|sms|email|e-mail|message|teams|slack)(?:\s+message)?\s+(?:with|saying|that)?\s*:?\s*(?P<msg>.+)"
        ),
        _message,
    ),
    _Rule(
        _r(r"(?:post|add|write)\s+(?:an?\s+)?(?P<kind>internal|public)?\s*note\s+(?:saying|with|:)?\s*(?P<msg>.+)"),
        lambda m, c: (
            "post_ticket_note",
            {
                "text": m.group("msg").strip().strip("\"'"),
                "internal": (m.group("kind") or "internal").lower() != "public",
            },
        ),
    ),
]


def interpret(instruction: str, context: InstructionContext) -> ProposedPlan:
    """Parse ``instruction`` into a plan; InstructionNotUnderstood names the fragment it could not read."""
    if not instruction.strip():
        raise InstructionNotUnderstood("the instruction is empty", detail={"examples": EXAMPLES})
    plan = ProposedPlan(summary=instruction.strip()[:500], device_hostname=context.device_hostname)
    for fragment in (f for f in _SPLIT.split(instruction.strip()) if f and f.strip()):
        host = _ON_HOST.search(fragment)
        if host and not fragment.lower().startswith(("add ", "remove ")):
            plan.device_hostname = host.group("host")
            fragment = fragment[: host.start()]
        for rule in RULES:
            match = rule.pattern.match(fragment)
            if match is None:
                continue
            built = rule.build(match, context)
            if isinstance(built, str):
                plan.verification = built
            else:
                tool, args = built
                plan.steps.append(ProposedCall(tool=tool, args=args, reason=f"instruction: {fragment.strip()}"))
            break
        else:
            raise InstructionNotUnderstood(
                f"I don't understand {fragment.strip()!r}; try e.g. '{EXAMPLES[1]}'",
                detail={"fragment": fragment.strip(), "examples": EXAMPLES},
            )
    return plan
