"""RMM script backend: catalog tools carried out as vendor scripts on RMM-managed devices.

``models`` (per-connection tool → script map, idempotent tool calls), ``service`` (validation
against the tool catalog, device → connection resolution), ``backend`` (the ``rmm_script``
ToolBackend), ``views`` (``/connections/{id}/script-map``) and ``wiring`` (registration).
"""
