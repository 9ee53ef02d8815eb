"""Sync engine: connections, polling, webhooks in, command mode, cursors and upserts."""
