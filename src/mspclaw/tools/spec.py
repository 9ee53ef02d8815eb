"""What a tool is to the server: ``ToolSpec`` (typed args, risk, permission, backends, undo)
and the errors raised when a caller names an unknown tool or passes bad arguments.
"""

from __future__ import annotations

from typing import Any, Literal

from mspclaw_agent.tools import Platform, RiskClass
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mspclaw.errors import InvalidInput, MSPclawError, NotFound

REDACTED = "***redacted***"

BackendKind = Literal["endpoint", "rmm_script", "identity", "notification"]


class UnknownToolError(NotFound):
    """The tool name is not in the catalog."""

    code = "unknown_tool"


class ToolArgumentsInvalid(InvalidInput):
    """Arguments do not validate against the tool's model; ``detail`` lists bad fields."""

    code = "invalid_tool_arguments"


class UndoDerivationError(MSPclawError):
    """An undo could not be derived (a referenced argument or output field is missing)."""

    code = "undo_underivable"


class BackendRef(BaseModel):
    """One way a tool can be carried out; endpoint/rmm backends list the OSes they cover."""

    model_config = ConfigDict(frozen=True)

    kind: BackendKind
    platforms: tuple[Platform, ...] = ()


class UndoSpec(BaseModel):
    """How to roll a tool back: the undo tool and where each of its arguments comes from.

    Each value of ``args`` is ``args.<field>`` (the original call's argument),
    ``output.<field>`` (the original call's output) or ``const:<text>``.
    """

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, str] = Field(default_factory=dict)


class ToolSpec(BaseModel):
    """A catalog entry: everything the executor and policy gate need to know about a tool."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    version: str
    description: str
    args_model: type[BaseModel] = Field(exclude=True)
    risk: RiskClass
    permission: str
    backends: tuple[BackendRef, ...]
    undo: UndoSpec | None = None
    verification_hint: str | None = None
    timeout_seconds: float = 60.0
    #: argument/output fields holding secrets: redacted in records, never logged
    sensitive_fields: tuple[str, ...] = ()

    @property
    def args_schema(self) -> dict[str, Any]:
        """The arguments as JSON Schema (what the console, planner and linter consume)."""
        return self.args_model.model_json_schema()

    def backend(self, kind: BackendKind) -> BackendRef | None:
        """This tool's backend of ``kind``, if it has one."""
        return next((b for b in self.backends if b.kind == kind), None)

    def runs_on(self, kind: BackendKind, platform: Platform | None = None) -> bool:
        """Whether the tool can run on backend ``kind`` (and ``platform`` when given)."""
        ref = self.backend(kind)
        if ref is None:
            return False
        return platform is None or not ref.platforms or platform in ref.platforms

    def validate_args(self, args: dict[str, Any]) -> BaseModel:
        """The validated argument model, or ToolArgumentsInvalid naming each bad field."""
        try:
            return self.args_model.model_validate(args)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "message": e["msg"]}
                for e in exc.errors()
            ]
            text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise ToolArgumentsInvalid(
                f"invalid arguments for {self.name}: {text}",
                detail={"tool": self.name, "problems": problems},
            ) from exc

    def redact(self, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of args or output with sensitive fields replaced, for records and logs."""
        return {k: (REDACTED if k in self.sensitive_fields else v) for k, v in data.items()}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description including the argument schema."""
        return {**self.model_dump(mode="json"), "args_schema": self.args_schema}


def derive_undo(spec: ToolSpec, args: dict[str, Any], output: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The (tool, args) call that undoes ``spec`` called with ``args`` giving ``output``."""
    if spec.undo is None:
        return None
    sources = {"args": args, "output": output}
    undo_args: dict[str, Any] = {}
    for key, ref in spec.undo.args.items():
        if ref.startswith("const:"):
            undo_args[key] = ref.removeprefix("const:")
            continue
        source, _, field = ref.partition(".")
        if source not in sources or field not in sources[source]:
            raise UndoDerivationError(
                f"cannot derive undo of {spec.name}: {ref} is missing",
                detail={"tool": spec.name, "undo": spec.undo.tool, "missing": ref},
            )
        undo_args[key] = sources[source][field]
    return spec.undo.tool, undo_args
