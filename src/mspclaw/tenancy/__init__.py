"""Tenancy: tenants (MSPs), clients with policy and stack, sites, contacts, devices."""
