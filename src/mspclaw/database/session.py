"""Engine and the tenant-scoped session layer.

Every ORM query issued through a session bound to a tenant is filtered by ``tenant_id`` for
every :class:`TenantMixin` table, and every new tenant-owned row is stamped with it. Routes
and services never add the filter themselves, so none can forget it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from mspclaw.database.base import TenantMixin

TENANT_KEY = "tenant_id"


class TenantScopeViolation(RuntimeError):
    """Code tried to write a row of another tenant through a tenant-bound session (a bug)."""


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine on psycopg 3 with health-checked pooled connections."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay usable after commit (no implicit refresh I/O)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def tenant_of(session: AsyncSession | Session) -> uuid.UUID | None:
    """The tenant a session is bound to, or None for a system (cross-tenant) session."""
    value = session.info.get(TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


@asynccontextmanager
async def tenant_session(
    factory: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | None
) -> AsyncIterator[AsyncSession]:
    """A session bound to ``tenant_id`` (None = system scope, for CLI/ops code only)."""
    async with factory() as session:
        session.info[TENANT_KEY] = tenant_id
        yield session


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None or state.execution_options.get("skip_tenant_scope"):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantMixin,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
                track_closure_variables=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        return
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, TenantMixin):
            current = getattr(obj, "tenant_id", None)
            if current is None:
                obj.tenant_id = tenant_id
            elif current != tenant_id:
                raise TenantScopeViolation(f"refusing to write a {type(obj).__name__} of another tenant")
