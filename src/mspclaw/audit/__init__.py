"""Audit: the append-only, hash-chained (per tenant) record of every state change."""
