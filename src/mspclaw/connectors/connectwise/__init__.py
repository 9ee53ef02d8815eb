"""ConnectWise PSA (Manage) connector (REST): adapter, spec and simulator."""
