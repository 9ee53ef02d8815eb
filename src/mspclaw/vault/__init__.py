"""Vault: per-tenant secrets encrypted at rest with AES-GCM under rotating master keys."""
