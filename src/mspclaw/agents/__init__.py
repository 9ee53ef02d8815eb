"""Agents: enrolment tokens, per-device credentials, device memory and asset mapping.

The gateway (``mspclaw.gateway``) holds the sockets; this package is its database side.
"""
