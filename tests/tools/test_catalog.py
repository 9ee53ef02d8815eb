"""The server-side tool catalog: endpoint tools from the agent, identity and notification
tools, permissions, backends, JSON Schema of arguments and undo derivation."""

from __future__ import annotations

import jsonschema
import pytest
from mspclaw_agent.tools import TOOLS as AGENT_TOOLS

from mspclaw.tools import (
    CATALOG,
    REDACTED,
    ToolArgumentsInvalid,
    UndoDerivationError,
    UnknownToolError,
    derive_undo,
    get_tool,
)

IDENTITY = {
    "reset_password": "change",
    "unlock_account": "change",
    "require_mfa_reregistration": "change",
    "disable_account": "destructive",
    "enable_account": "change",
    "revoke_sessions": "change",
    "add_group_member": "change",
    "remove_group_member": "change",
    "set_mail_forwarding": "change",
    "lookup_user": "read",
}


def test_every_agent_tool_is_in_the_catalog_with_the_same_model() -> None:
    for name, tool in AGENT_TOOLS.items():
        spec = CATALOG[name]
        assert spec.args_model is tool.args_model  # one source of truth for arguments
        assert spec.permission == f"tools.run.{tool.risk}"
        assert spec.runs_on("endpoint", "windows") and spec.runs_on("endpoint", "linux")
        assert spec.runs_on("rmm_script", "macos")


def test_identity_and_notification_tools_are_declared() -> None:
    for name, risk in IDENTITY.items():
        spec = get_tool(name)
        assert spec.risk == risk
        assert spec.backends[0].kind == "identity"
        assert spec.permission == ("identity.read" if risk == "read" else "identity.write")
    for name in ("post_ticket_note", "notify_user", "notify_technician"):
        assert get_tool(name).backends[0].kind == "notification"
    assert "temporary_password" in get_tool("reset_password").sensitive_fields


def test_args_schema_is_valid_json_schema_and_validates_like_the_model() -> None:
    for spec in CATALOG.values():
        jsonschema.Draft202012Validator.check_schema(spec.args_schema)
    schema = get_tool("restart_service").args_schema
    jsonschema.validate({"service": "print_spooler"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"service": "spooler; rm -rf /"}, schema)
    assert "vlc" in get_tool("install_package").args_schema["properties"]["package"]["enum"]


def test_validate_args_names_the_field() -> None:
    with pytest.raises(ToolArgumentsInvalid) as err:
        get_tool("add_group_member").validate_args({"user": "a@b.com", "group": "x; drop"})
    assert err.value.detail["problems"][0]["field"] == "group"
    with pytest.raises(ToolArgumentsInvalid, match="forward_to"):
        get_tool("set_mail_forwarding").validate_args({"user": "a@b.com", "forward_to": "evil"})


def test_undo_derivation() -> None:
    assert derive_undo(get_tool("disable_account"), {"user": "a@b.com"}, {}) == (
        "enable_account",
        {"user": "a@b.com"},
    )
    assert derive_undo(get_tool("add_group_member"), {"user": "a@b.com", "group": "Finance"}, {}) == (
        "remove_group_member",
        {"user": "a@b.com", "group": "Finance"},
    )
    assert (
        derive_undo(get_tool("set_mail_forwarding"), {"user": "u@x.io", "forward_to": "m@x.io"}, {})[0]
        == "clear_mail_forwarding"
    )
    assert derive_undo(get_tool("install_package"), {"package": "vlc"}, {}) == (
        "uninstall_package",
        {"package": "vlc"},
    )
    assert derive_undo(get_tool("system_info"), {}, {}) is None
    with pytest.raises(UndoDerivationError, match=r"args\.user"):
        derive_undo(get_tool("disable_account"), {}, {})


def test_every_undo_tool_exists_and_undo_args_validate() -> None:
    for spec in CATALOG.values():
        if spec.undo is None:
            continue
        undo = get_tool(spec.undo.tool)
        assert set(spec.undo.args) <= set(undo.args_schema["properties"])


def test_unknown_tool() -> None:
    with pytest.raises(UnknownToolError):
        get_tool("run_powershell")
    assert get_tool("ping").describe()["args_schema"]["properties"]["host"]


def test_sensitive_fields_are_redacted() -> None:
    spec = get_tool("reset_password")
    output = {"temporary_password": "Tmp-123", "user": "a@b.com"}
    assert spec.redact(output) == {"temporary_password": REDACTED, "user": "a@b.com"}
    assert output["temporary_password"] == "Tmp-123"  # the original is untouched
    assert get_tool("notify_user").redact({"message": "pw Tmp-123"})["message"] == REDACTED


def test_server_side_checks_are_platform_neutral_the_device_checks_roots() -> None:
    spec = get_tool("cleanup_temp")
    # a Windows device's temp folder plans fine on a Linux server ...
    spec.validate_args({"paths": ["C:\\Windows\\Temp"], "older_than_hours": 48})
    spec.validate_args({"paths": ["/etc"]})  # ... and the device rejects this one itself
    for bad in ("relative/dir", "/tmp/../etc", "C:\\Temp\\..\\Windows"):
        with pytest.raises(ToolArgumentsInvalid, match=r"without '\.\.'"):
            spec.validate_args({"paths": [bad]})


def test_disk_usage_accepts_any_os_absolute_path() -> None:
    spec = get_tool("disk_usage")
    spec.validate_args({"path": "C:\\Users"})
    spec.validate_args({"path": "/Users/jane"})
    with pytest.raises(ToolArgumentsInvalid, match="path"):
        spec.validate_args({"path": "Users/../.."})
