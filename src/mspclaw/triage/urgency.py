"""Explainable urgency scoring (0-100) for tickets and alerts.

Owns the factors (wording, VIP contact, SLA tier, device criticality, alert severity, business
hours, affected users) and the mapping of the score onto a connection's vendor priority scale.
Every point in the score is carried by a named factor with the evidence that produced it.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from mspclaw.errors import InvalidInput

Priority = Literal["critical", "high", "medium", "low"]

#: starting point of every score: an ordinary request with no signal is "low"
BASE_SCORE = 10

SLA_POINTS: dict[str, int] = {"platinum": 15, "gold": 10, "silver": 5, "bronze": 0}
DEVICE_POINTS: dict[str, int] = {
    "domain_controller": 20,
    "firewall": 18,
    "server": 15,
    "hypervisor": 18,
    "storage": 15,
    "switch": 12,
    "router": 12,
    "network": 12,
    "database": 15,
    "workstation": 3,
    "laptop": 3,
    "printer": 0,
    "mobile": 0,
}
SEVERITY_POINTS: dict[str, int] = {"critical": 25, "high": 15, "medium": 7, "low": 2, "info": 0}
VIP_POINTS = 12
AFTER_HOURS_POINTS = 5
IN_HOURS_POINTS = 0

# (pattern, points, label). Patterns use word boundaries so "download" is not "down".
_WORDING: list[tuple[str, int, str]] = [
    (r"ransomware|encrypted\s+(?:all\s+)?(?:our\s+)?files|crypto\s*locker", 45, "ransomware"),
    (r"(?:data\s+)?breach|compromised|hacked|phishing\s+(?:link\s+)?clicked", 20, "security"),
    # "down" alone means an outage, but not in "shut down", "slow down", "turn down", "write down"
    (
        r"outage|is\s+down|are\s+down|went\s+down|gone\s+down|"
        r"(?<!shut )(?<!slow )(?<!turn )(?<!calm )(?<!write )(?<!sit )(?<!break )(?<!scroll )\bdown\b",
        18,
        "outage",
    ),
    (
        r"whole\s+(?:office|company|team|site|building)|entire\s+(?:office|company|team|site)",
        18,
        "whole office",
    ),
    (r"every(?:one|body)|all\s+(?:users|staff|employees)|nobody|no\s+one", 12, "everyone"),
    (
        r"can(?:'|no|’)?t\s+work|cannot\s+work|unable\s+to\s+work|can\s+not\s+work|work\s+stopped",
        15,
        "can't work",
    ),
    (
        r"production|prod\s+(?:server|system|db|database)|revenue|customers?\s+can(?:'|no)?t",
        10,
        "production",
    ),
    (
        r"urgent(?:ly)?|emergency|critical|asap|as\s+soon\s+as\s+possible|immediately|right\s+away",
        10,
        "urgent",
    ),
    (
        r"not\s+(?:working|responding|booting|starting)|crash(?:ed|es|ing)?|offline|unreachable",
        6,
        "broken",
    ),
]
# Negated urgency ("not urgent", "no rush", "whenever you get a chance") lowers the score.
_CALMING: list[tuple[str, int, str]] = [
    (
        r"not\s+(?:urgent|critical|(?:an?\s+)?emergency|(?:a\s+)?priority)|non[-\s]?urgent",
        -15,
        "not urgent",
    ),
    (
        r"no\s+rush|no\s+hurry|low\s+priority|whenever\s+(?:you\s+(?:get|have)\s+(?:a\s+)?"
        r"(?:chance|time)|convenient)|when\s+you\s+(?:get|have)\s+(?:a\s+)?(?:chance|time)",
        -10,
        "no rush",
    ),
    (r"just\s+(?:an?\s+)?(?:fyi|question)|\bfyi\b", -5, "fyi"),
]
_NEGATED_URGENT = re.compile(
    r"\b(?:not|non|no|isn't|isnt|never)[-\s]+(?:\w+\s+){0,2}?(?:urgent|critical|emergency|priority)"
    r"\b",
    re.IGNORECASE,
)

# Literal fragments one of which must occur (lower-cased) before a rule's regex is tried: substring
# checks run in C and skip most rules on most tickets, which keeps batch triage fast. Each tuple
# must hold a fragment of every text its rule can match (whitespace-free, so "\s+" cannot dodge it).
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "ransomware": ("ransom", "encrypt", "crypto"),
    "security": ("breach", "compromis", "hack", "phish"),
    "outage": ("outage", "down"),
    "whole office": ("whole", "entire"),
    "everyone": ("every", "all", "nobody", "no"),
    "can't work": ("work",),
    "production": ("prod", "revenue", "customer"),
    "urgent": ("urgen", "emergenc", "critical", "asap", "soon", "immediate", "away"),
    "broken": ("not", "crash", "offline", "unreachable"),
    "not urgent": ("urgen", "critical", "emergenc", "priority"),
    "no rush": ("rush", "hurry", "priority", "when"),
    "fyi": ("fyi", "just"),
}
_NEGATION_TRIGGERS = ("not", "non", "no", "isn", "never")


def _compile(rules: list[tuple[str, int, str]]) -> list[tuple[re.Pattern[str], int, str, tuple[str, ...]]]:
    return [(re.compile(rf"\b(?:{p})\b", re.IGNORECASE), n, lbl, _TRIGGERS[lbl]) for p, n, lbl in rules]


_COMPILED_WORDING = _compile(_WORDING)
_COMPILED_CALMING = _compile(_CALMING)


class BusinessHours(BaseModel):
    """A client's working hours: weekdays are 0=Monday .. 6=Sunday, times are local."""

    timezone: str = "UTC"
    start: time = time(8, 0)
    end: time = time(18, 0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # ZoneInfoNotFoundError or ValueError on a malformed key
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    def contains(self, moment: datetime) -> bool:
        """True when ``moment`` (tz-aware) falls inside these working hours."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.weekday() not in self.weekdays:
            return False
        return self.start <= local.time().replace(tzinfo=None) < self.end


class UrgencySignals(BaseModel):
    """Structured context beside the text; every field is optional."""

    vip_contact: bool = False
    sla_tier: str | None = None
    device_role: str | None = None
    alert_severity: str | None = None
    affected_users: int | None = Field(default=None, ge=0)
    now: datetime | None = None
    business_hours: BusinessHours | None = None


class UrgencyFactor(BaseModel):
    """One contribution to the score and why it was counted."""

    name: str
    points: int
    evidence: str


class UrgencyResult(BaseModel):
    """The score, the factors that sum to it (before clamping), and the priority band."""

    score: int = Field(ge=0, le=100)
    factors: list[UrgencyFactor]
    priority: Priority


def priority_for(score: int) -> Priority:
    """Band a 0-100 score into the four MSPclaw priorities."""
    if score >= 70:
        return "critical"
    if score >= 45:
        return "high"
    if score >= 25:
        return "medium"
    return "low"


def _matches(
    rules: list[tuple[re.Pattern[str], int, str, tuple[str, ...]]], text: str, lowered: str
) -> list[UrgencyFactor]:
    factors = []
    for pattern, points, label, triggers in rules:
        if not any(t in lowered for t in triggers):
            continue
        match = pattern.search(text)
        if match:
            factors.append(UrgencyFactor(name=f"wording:{label}", points=points, evidence=match.group(0)))
    return factors


def _wording_factors(text: str) -> list[UrgencyFactor]:
    lowered = text.lower()
    # Remove negated urgency phrases first so "not urgent" does not also count as "urgent".
    stripped = text
    if any(t in lowered for t in _NEGATION_TRIGGERS):
        stripped = _NEGATED_URGENT.sub(" ", text)
    return _matches(_COMPILED_WORDING, stripped, stripped.lower()) + _matches(_COMPILED_CALMING, text, lowered)


def _affected_points(users: int) -> int:
    if users >= 50:
        return 20
    if users >= 10:
        return 15
    if users >= 3:
        return 8
    if users >= 2:
        return 3
    return 0


def _signal_factors(signals: UrgencySignals) -> list[UrgencyFactor]:
    factors: list[UrgencyFactor] = []
    if signals.vip_contact:
        factors.append(UrgencyFactor(name="vip_contact", points=VIP_POINTS, evidence="VIP contact"))
    if signals.sla_tier:
        tier = signals.sla_tier.lower()
        factors.append(UrgencyFactor(name="sla_tier", points=SLA_POINTS.get(tier, 0), evidence=tier))
    if signals.device_role:
        role = signals.device_role.lower().replace(" ", "_").replace("-", "_")
        factors.append(UrgencyFactor(name="device_role", points=DEVICE_POINTS.get(role, 0), evidence=role))
    if signals.alert_severity:
        sev = signals.alert_severity.lower()
        factors.append(UrgencyFactor(name="alert_severity", points=SEVERITY_POINTS.get(sev, 0), evidence=sev))
    if signals.affected_users is not None:
        factors.append(
            UrgencyFactor(
                name="affected_users",
                points=_affected_points(signals.affected_users),
                evidence=f"{signals.affected_users} users affected",
            )
        )
    if signals.business_hours is not None and signals.now is not None:
        now = signals.now if signals.now.tzinfo else signals.now.replace(tzinfo=ZoneInfo("UTC"))
        inside = signals.business_hours.contains(now)
        # Outside hours a ticket still reaching us means someone is blocked with no one around.
        factors.append(
            UrgencyFactor(
                name="business_hours",
                points=IN_HOURS_POINTS if inside else AFTER_HOURS_POINTS,
                evidence="inside business hours" if inside else "outside business hours",
            )
        )
    return factors


def score_urgency(text: str, signals: UrgencySignals | None = None) -> UrgencyResult:
    """Score ``text`` plus optional ``signals``; the factors explain every point."""
    factors = [UrgencyFactor(name="base", points=BASE_SCORE, evidence="every request")]
    factors.extend(_wording_factors(text or ""))
    if signals is not None:
        factors.extend(_signal_factors(signals))
    total = sum(f.points for f in factors)
    score = max(0, min(100, total))
    return UrgencyResult(score=score, factors=factors, priority=priority_for(score))


def map_to_priority_scale(score: int, scale: list[str]) -> str:
    """Map a 0-100 score onto ``scale``, a vendor's priorities ordered lowest to highest.

    The range is cut into equal bands, so a 4-value scale maps like the MSPclaw bands and a
    5-value scale (e.g. P5..P1) spreads the same scores over one more step.
    """
    if not scale:
        raise InvalidInput("priority scale is empty; give the vendor's values, lowest first")
    clamped = max(0, min(100, score))
    index = min(len(scale) - 1, clamped * len(scale) // 100)
    return scale[index]
