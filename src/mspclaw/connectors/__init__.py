"""Connectors: the SDK (protocol, normalised models, errors, resilient HTTP client, mappings,
registry), the simulator toolkit, the conformance kit, and the built-in vendor adapters.
"""
