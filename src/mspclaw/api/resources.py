"""Standard list / get / create / update / delete routes for a tenant-owned table.

Each route authenticates and checks permission through :func:`context`, reads through the
tenant-scoped session, and writes an audit event with before/after in the same transaction.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.api.deps import Ctx, Paging, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.schemas import Page
from mspclaw.database.base import Base
from mspclaw.tenancy.service import get_or_raise, page


def snapshot(obj: Any, schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON form of a row through its read schema (for audit before/after)."""
    return schema.model_validate(obj).model_dump(mode="json")


def add_resource_routes(
    router: APIRouter,
    *,
    path: str,
    model: type[Base],
    label: str,
    read: type[BaseModel],
    create: type[BaseModel],
    update: type[BaseModel] | None,
    create_fn: Callable[..., Awaitable[Any]],
    update_fn: Callable[..., Awaitable[Any]] | None,
    read_permission: str,
    write_permission: str,
    order_by: Any,
    filter_by_client: bool = False,
) -> None:
    """Register the five standard routes for ``model`` under ``path``."""
    tag = label.capitalize() + "s"
    kind = label.replace(" ", "_")

    async def list_items(
        ctx: Ctx = Depends(context(read_permission)),
        paging: Paging = Depends(),
        client_id: uuid.UUID | None = None,
    ) -> Page[Any]:
        where = model.client_id == client_id if (filter_by_client and client_id) else None  # type: ignore[attr-defined]
        items, total = await page(
            ctx.session,
            model,
            limit=paging.limit,
            offset=paging.offset,
            order_by=order_by,
            where=where,
        )
        return Page(
            items=[read.model_validate(i) for i in items],
            total=total,
            limit=paging.limit,
            offset=paging.offset,
        )

    if not filter_by_client:

        async def list_plain(ctx: Ctx = Depends(context(read_permission)), paging: Paging = Depends()) -> Page[Any]:
            return await list_items(ctx, paging, None)

        router.add_api_route(
            path,
            list_plain,
            methods=["GET"],
            response_model=Page[read],  # type: ignore[valid-type]
            tags=[tag],
            summary=f"List {label}s",
            responses=PROBLEM_RESPONSES,
        )
    else:
        router.add_api_route(
            path,
            list_items,
            methods=["GET"],
            response_model=Page[read],  # type: ignore[valid-type]
            tags=[tag],
            summary=f"List {label}s",
            responses=PROBLEM_RESPONSES,
        )

    async def get_item(object_id: uuid.UUID, ctx: Ctx = Depends(context(read_permission))) -> Any:
        return read.model_validate(await get_or_raise(ctx.session, model, object_id, label))

    router.add_api_route(
        f"{path}/{{object_id}}",
        get_item,
        methods=["GET"],
        response_model=read,
        tags=[tag],
        summary=f"Get one {label}",
        responses=PROBLEM_RESPONSES,
    )

    async def create_item(data: create, ctx: Ctx = Depends(context(write_permission))) -> Any:  # type: ignore[valid-type]
        obj = await create_fn(ctx.session, data=data)
        after = snapshot(obj, read)
        await ctx.audit(f"{kind}.create", target_type=kind, target_id=obj.id, after=after)
        await ctx.commit()
        return after

    router.add_api_route(
        path,
        create_item,
        methods=["POST"],
        response_model=read,
        status_code=201,
        tags=[tag],
        summary=f"Create a {label}",
        responses=PROBLEM_RESPONSES,
    )

    if update is not None and update_fn is not None:
        param = kind if kind in ("client", "contact", "device") else "obj"

        async def update_item(object_id: uuid.UUID, data: update, ctx: Ctx = Depends(context(write_permission))) -> Any:  # type: ignore[valid-type]
            obj = await get_or_raise(ctx.session, model, object_id, label)
            before = snapshot(obj, read)
            obj = await update_fn(ctx.session, **{param: obj, "data": data})
            after = snapshot(obj, read)
            await ctx.audit(f"{kind}.update", target_type=kind, target_id=obj.id, before=before, after=after)
            await ctx.commit()
            return after

        router.add_api_route(
            f"{path}/{{object_id}}",
            update_item,
            methods=["PATCH"],
            response_model=read,
            tags=[tag],
            summary=f"Update a {label}",
            responses=PROBLEM_RESPONSES,
        )

    async def delete_item(object_id: uuid.UUID, ctx: Ctx = Depends(context(write_permission))) -> Response:
        obj = await get_or_raise(ctx.session, model, object_id, label)
        before = snapshot(obj, read)
        await _delete(ctx.session, obj)
        await ctx.audit(f"{kind}.delete", target_type=kind, target_id=object_id, before=before)
        await ctx.commit()
        return Response(status_code=204)

    router.add_api_route(
        f"{path}/{{object_id}}",
        delete_item,
        methods=["DELETE"],
        status_code=204,
        tags=[tag],
        summary=f"Delete a {label}",
        responses=PROBLEM_RESPONSES,
    )


async def _delete(session: AsyncSession, obj: Any) -> None:
    await session.delete(obj)
    await session.flush()
