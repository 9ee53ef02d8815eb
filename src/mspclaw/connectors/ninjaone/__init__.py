"""NinjaOne connector (REST + OAuth2, RMM): adapter, spec and simulator."""
