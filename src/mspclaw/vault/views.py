"""Routes to store and list tenant secrets. Values go in; they never come back out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Response

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.vault import service
from mspclaw.vault.models import SecretRead, SecretWrite

router = APIRouter(tags=["Vault"])

NAME = Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")


@router.get("/secrets", response_model=list[SecretRead], responses=PROBLEM_RESPONSES)
async def list_secrets(ctx: Ctx = Depends(context("vault.read"))) -> list[SecretRead]:
    """Names and metadata of stored secrets."""
    return [SecretRead.model_validate(s) for s in await service.list_names(ctx.session)]


@router.put("/secrets", response_model=SecretRead, responses=PROBLEM_RESPONSES)
async def put_secret(data: SecretWrite, ctx: Ctx = Depends(context("vault.write"))) -> SecretRead:
    """Create or replace a secret; the audit trail records that it changed, not its value."""
    secret = await service.put(ctx.session, ctx.keyring, name=data.name, value=data.value)
    await ctx.audit("secret.put", target_type="secret", target_id=secret.id, detail={"name": data.name})
    await ctx.commit()
    return SecretRead.model_validate(secret)


@router.delete("/secrets/{name}", status_code=204, responses=PROBLEM_RESPONSES)
async def delete_secret(name: str = NAME, ctx: Ctx = Depends(context("vault.write"))) -> Response:
    """Delete a secret."""
    secret = await service.delete(ctx.session, name=name)
    await ctx.audit("secret.delete", target_type="secret", target_id=secret.id, detail={"name": name})
    await ctx.commit()
    return Response(status_code=204)
