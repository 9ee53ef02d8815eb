"""Database: engine, tenant-scoped sessions, the embedded PostgreSQL and migrations."""
