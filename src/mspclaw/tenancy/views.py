"""Routes for the caller's tenant, its clients, sites, contacts and devices."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.resources import add_resource_routes
from mspclaw.tenancy import service
from mspclaw.tenancy.models import (
    Client,
    ClientCreate,
    ClientRead,
    ClientUpdate,
    Contact,
    ContactCreate,
    ContactRead,
    ContactUpdate,
    Device,
    DeviceCreate,
    DeviceRead,
    DeviceUpdate,
    Site,
    SiteCreate,
    SiteRead,
    Tenant,
    TenantRead,
)

router = APIRouter()


@router.get("/tenant", response_model=TenantRead, tags=["Tenant"], responses=PROBLEM_RESPONSES)
async def get_own_tenant(ctx: Ctx = Depends(context("tenant.read"))) -> TenantRead:
    """The MSP tenant the caller belongs to."""
    tenant = await ctx.session.get(Tenant, ctx.tenant_id)
    return TenantRead.model_validate(tenant)


add_resource_routes(
    router,
    path="/clients",
    model=Client,
    label="client",
    read=ClientRead,
    create=ClientCreate,
    update=ClientUpdate,
    create_fn=service.create_client,
    update_fn=service.update_client,
    read_permission="clients.read",
    write_permission="clients.write",
    order_by=Client.name,
)
add_resource_routes(
    router,
    path="/sites",
    model=Site,
    label="site",
    read=SiteRead,
    create=SiteCreate,
    update=None,
    create_fn=service.create_site,
    update_fn=None,
    read_permission="clients.read",
    write_permission="clients.write",
    order_by=Site.name,
    filter_by_client=True,
)
add_resource_routes(
    router,
    path="/contacts",
    model=Contact,
    label="contact",
    read=ContactRead,
    create=ContactCreate,
    update=ContactUpdate,
    create_fn=service.create_contact,
    update_fn=service.update_contact,
    read_permission="contacts.read",
    write_permission="contacts.write",
    order_by=Contact.name,
    filter_by_client=True,
)
add_resource_routes(
    router,
    path="/devices",
    model=Device,
    label="device",
    read=DeviceRead,
    create=DeviceCreate,
    update=DeviceUpdate,
    create_fn=service.create_device,
    update_fn=service.update_device,
    read_permission="devices.read",
    write_permission="devices.write",
    order_by=Device.hostname,
    filter_by_client=True,
)
