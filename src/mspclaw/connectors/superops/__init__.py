"""SuperOps.ai connector (GraphQL, PSA + RMM): adapter, spec and simulator."""
