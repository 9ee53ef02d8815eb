"""Per-tenant LLM configuration, token and cost accounting, and the monthly budget.

The provider's API key lives in the vault; the configuration row names it. When a tenant's
month is spent, planning falls back to the offline engines until the month turns.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage
from sqlalchemy import Numeric, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin, utcnow, uuid7
from mspclaw.database.session import tenant_of
from mspclaw.errors import NotFound
from mspclaw.reasoning.planner import LLMPlanner
from mspclaw.reasoning.providers import ProviderConfig, build_model
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring

API_KEY_SECRET = "llm.api_key"  # noqa: S105 - the vault entry name, not a key


class LLMSettings(IdMixin, TimestampMixin, TenantMixin, Base):
    """A tenant's LLM provider configuration (no secrets in it)."""

    __tablename__ = "llm_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    config: Mapped[dict[str, Any]] = mapped_column(JSONB)


class LLMUsage(IdMixin, TenantMixin, Base):
    """Tokens and cost per tenant and month."""

    __tablename__ = "llm_usage"
    __table_args__ = (UniqueConstraint("tenant_id", "month"),)

    month: Mapped[str] = mapped_column(String(7))
    requests: Mapped[int] = mapped_column(default=0)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal(0))


class ProviderWrite(ProviderConfig):
    """A provider configuration plus (optionally) its API key, which goes to the vault."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, min_length=1, max_length=500, repr=False)


class UsageRead(BaseModel):
    month: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    budget_usd: Decimal | None
    budget_left_usd: Decimal | None
    llm_enabled: bool


def month_of(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m")


async def get_config(session: AsyncSession) -> ProviderConfig | None:
    """The tenant's provider configuration, if any."""
    row = await session.scalar(select(LLMSettings))
    return ProviderConfig.model_validate(row.config) if row else None


async def put_config(session: AsyncSession, keyring: Keyring, *, data: ProviderWrite) -> ProviderConfig:
    """Save the configuration; an API key given here is stored in the vault, never in the row."""
    config = ProviderConfig.model_validate(data.model_dump(exclude={"api_key"}))
    if data.api_key:
        await vault.put(session, keyring, name=API_KEY_SECRET, value=data.api_key)
        config = config.model_copy(update={"api_key_secret": API_KEY_SECRET})
    row = await session.scalar(select(LLMSettings))
    if row is None:
        row = LLMSettings(config={})
        session.add(row)
    row.config = config.model_dump(mode="json")
    await session.flush()
    return config


async def delete_config(session: AsyncSession) -> None:
    """Remove the provider; planning goes back to the offline engines."""
    row = await session.scalar(select(LLMSettings))
    if row is None:
        raise NotFound("no LLM provider is configured")
    await session.delete(row)
    await session.flush()


async def usage(session: AsyncSession, *, month: str | None = None, config: ProviderConfig | None = None) -> UsageRead:
    """This month's usage against the budget (``config``: the tenant's, when already loaded)."""
    config = config or await get_config(session)
    row = await session.scalar(select(LLMUsage).where(LLMUsage.month == (month or month_of())))
    cost = row.cost_usd if row else Decimal(0)
    budget = config.monthly_budget_usd if config else None
    return UsageRead(
        month=month or month_of(),
        requests=row.requests if row else 0,
        input_tokens=row.input_tokens if row else 0,
        output_tokens=row.output_tokens if row else 0,
        cost_usd=cost,
        budget_usd=budget,
        budget_left_usd=(budget - cost) if budget is not None else None,
        llm_enabled=config is not None and (budget is None or cost < budget),
    )


async def record_usage(session: AsyncSession, config: ProviderConfig, run_usage: RunUsage) -> None:
    """Add one planning call's tokens and cost to this month (an atomic upsert)."""
    cost = config.cost(run_usage.input_tokens, run_usage.output_tokens)
    statement = insert(LLMUsage).values(
        id=uuid7(),
        tenant_id=tenant_of(session),
        month=month_of(),
        requests=run_usage.requests,
        input_tokens=run_usage.input_tokens,
        output_tokens=run_usage.output_tokens,
        cost_usd=cost,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "month"],
        set_={
            "requests": LLMUsage.requests + statement.excluded.requests,
            "input_tokens": LLMUsage.input_tokens + statement.excluded.input_tokens,
            "output_tokens": LLMUsage.output_tokens + statement.excluded.output_tokens,
            "cost_usd": LLMUsage.cost_usd + statement.excluded.cost_usd,
        },
    )
    await session.execute(statement)


async def model_for_tenant(
    session: AsyncSession, keyring: Keyring, *, config: ProviderConfig | None = None
) -> tuple[Model | None, ProviderConfig | None, str | None]:
    """The tenant's LLM as a pydantic-ai model, or None with the reason (not configured, budget
    spent); ``config``: the tenant's provider configuration, when the caller already loaded it."""
    config = config or await get_config(session)
    if config is None:
        return None, None, "no LLM provider configured (offline engines)"
    spent = await usage(session, config=config)
    if not spent.llm_enabled:
        return None, config, f"the monthly LLM budget of ${config.monthly_budget_usd} is spent (offline engines)"
    api_key = await vault.get_value(session, keyring, name=config.api_key_secret) if config.api_key_secret else None
    return build_model(config, api_key), config, None


async def planner_for_tenant(
    session: AsyncSession, keyring: Keyring
) -> tuple[LLMPlanner | None, ProviderConfig | None, str | None]:
    """The tenant's LLM planner, or None with the reason (not configured, budget spent)."""
    model, config, reason = await model_for_tenant(session, keyring)
    if model is None or config is None:
        return None, config, reason
    return LLMPlanner(model, timeout_seconds=config.timeout_seconds), config, None
