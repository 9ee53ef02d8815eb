"""The HTTP API: request context, problem responses, pagination and the v1 routes."""
