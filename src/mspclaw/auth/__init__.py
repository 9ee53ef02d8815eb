"""Auth: technicians and roles, the permission table, API keys, console login sessions."""
