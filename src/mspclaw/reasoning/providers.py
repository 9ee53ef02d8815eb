"""LLM provider configuration per tenant, built into pydantic-ai models.

OpenAI, Ollama and any OpenAI-compatible endpoint work with the installed extra; Anthropic
and Gemini need their pydantic-ai extras installed, and say so when missing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_ai.models import Model

from mspclaw.errors import InvalidInput

ProviderName = Literal["openai", "anthropic", "gemini", "ollama", "openai_compatible"]


class ProviderConfig(BaseModel):
    """How one tenant reaches its LLM; the API key itself lives in the vault."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName
    model: str = Field(min_length=1, max_length=200, description="e.g. gpt-4o-mini, llama3.1, claude-…")
    base_url: str | None = Field(
        default=None,
        max_length=500,
        description="Required for ollama and openai_compatible, e.g. http://host:11434/v1.",
    )
    api_key_secret: str | None = Field(default=None, max_length=200, description="Vault secret name of the key.")
    timeout_seconds: float = Field(default=60, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    monthly_budget_usd: Decimal = Field(default=Decimal("20"), ge=0)
    usd_per_million_input_tokens: Decimal = Field(default=Decimal("0.15"), ge=0)
    usd_per_million_output_tokens: Decimal = Field(default=Decimal("0.60"), ge=0)
    use_for_triage: bool = Field(
        default=False,
        description=(
            "Also classify every triaged ticket's intent with this LLM, combined with the offline "
            "classifier (one LLM call per ticket, counted against the monthly budget)."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-_\[\]:]+(?::[0-9]{1,5})?(?:/[^\s]*)?", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:11434/v1")
        return value

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """What a call cost at the configured prices."""
        million = Decimal(1_000_000)
        return (
            Decimal(input_tokens) * self.usd_per_million_input_tokens
            + Decimal(output_tokens) * self.usd_per_million_output_tokens
        ) / million


def build_model(config: ProviderConfig, api_key: str | None) -> Model:
    """A pydantic-ai model for ``config`` (retries with backoff and the timeout live in the client)."""
    if config.provider in ("openai", "ollama", "openai_compatible"):
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        if config.provider != "openai" and config.base_url is None:
            raise InvalidInput(f"provider {config.provider!r} needs base_url (e.g. http://localhost:11434/v1)")
        if config.provider == "openai" and not api_key:
            raise InvalidInput("provider 'openai' needs an api_key (PUT /api/v1/llm/provider with api_key)")
        client = AsyncOpenAI(
            base_url=str(config.base_url) if config.base_url else None,
            # local servers (Ollama, vLLM, LM Studio...) take any key; OpenAI itself needs a real one
            api_key=api_key or (None if config.provider == "openai" else "not-needed"),
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )
        return OpenAIChatModel(config.model, provider=OpenAIProvider(openai_client=client))
    extra = {"anthropic": "anthropic", "gemini": "google"}[config.provider]
    try:
        if config.provider == "anthropic":
            from pydantic_ai.models.anthropic import AnthropicModel
            from pydantic_ai.providers.anthropic import AnthropicProvider

            return AnthropicModel(config.model, provider=AnthropicProvider(api_key=api_key))
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        return GoogleModel(config.model, provider=GoogleProvider(api_key=api_key))
    except ImportError as exc:
        raise InvalidInput(
            f"the {config.provider} provider needs 'pydantic-ai-slim[{extra}]' installed on the MSPclaw server"
        ) from exc
