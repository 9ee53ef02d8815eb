"""Safe expressions and templates for playbooks: ``when`` conditions and ``{{ ... }}`` args.

Expressions are parsed with :mod:`ast` and walked against an allow-list of node types
(names, attribute paths, literals, comparisons, and/or/not); nothing is ever eval'd.
A reference to something not known yet (a later step's output, an unanswered question)
evaluates to :class:`Deferred`, which is how dry-run shows "decided at run time".
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mspclaw.errors import InvalidInput

#: roots an expression may start from
ROOTS = frozenset({"inputs", "steps", "ticket", "contact", "device", "client"})
_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}
TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class ExpressionError(InvalidInput):
    """An expression or template is malformed, uses a forbidden construct or a bad reference."""

    code = "invalid_expression"


@dataclass(frozen=True)
class Deferred:
    """A value only known at run time; ``refs`` are the references it waits for."""

    refs: tuple[str, ...]

    def __str__(self) -> str:
        return "{{ " + " , ".join(self.refs) + " }}"


@dataclass
class Scope:
    """What expressions can see: context objects, inputs, and outputs of finished steps.

    ``pending`` holds references not known yet (``steps.<id>`` of unrun steps,
    ``inputs.<name>`` of unanswered questions); reading them yields Deferred.
    """

    data: dict[str, Any]
    pending: set[str] = field(default_factory=set)


def parse(expression: str) -> ast.expr:
    """Parse ``expression`` and reject anything outside the allow-list."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {expression!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.BoolOp,
            ast.And,
            ast.Or,
            ast.UnaryOp,
            ast.Not,
            ast.Compare,
            ast.Constant,
            ast.Name,
            ast.Attribute,
            ast.List,
            ast.Tuple,
            ast.Load,
            *_COMPARE,
        )
        if not isinstance(node, allowed):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed in expression {expression!r}; "
                "use paths, literals, comparisons, and/or/not"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"private attribute {node.attr!r} in {expression!r}")
    return tree.body


def _path(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c']; None if the node is not a plain dotted path."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def references(expression: str) -> list[str]:
    """Every dotted path the expression reads (constants excluded), e.g. 'inputs.user'."""
    refs: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Attribute, ast.Name)):
            path = _path(node)
            if path is not None:
                if not (len(path) == 1 and path[0].lower() in _CONSTANTS):
                    refs.append(".".join(path))
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(parse(expression))
    return refs


def _lookup(path: list[str], scope: Scope) -> Any:
    if len(path) == 1 and path[0].lower() in _CONSTANTS:
        return _CONSTANTS[path[0].lower()]
    if path[0] not in ROOTS:
        raise ExpressionError(f"unknown name {path[0]!r}; expressions start from {sorted(ROOTS)}")
    for depth in (2, 1):
        if ".".join(path[:depth]) in scope.pending:
            return Deferred((".".join(path),))
    value: Any = scope.data.get(path[0])
    for part in path[1:]:
        # only mappings are walked: no attribute access on Python objects, ever
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _deferred(values: Iterable[Any]) -> Deferred | None:
    refs = [r for v in values if isinstance(v, Deferred) for r in v.refs]
    return Deferred(tuple(refs)) if refs else None


def _eval(node: ast.expr, scope: Scope) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_eval(e, scope) for e in node.elts]
        return _deferred(items) or items
    if isinstance(node, (ast.Name, ast.Attribute)):
        path = _path(node)
        if path is None:
            raise ExpressionError("attribute access is only allowed on dotted paths")
        return _lookup(path, scope)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, scope)
        return value if isinstance(value, Deferred) else not value
    if isinstance(node, ast.BoolOp):
        # Python semantics (returns a value), so `inputs.x or 'default'` works as a default
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        for operand in node.values:
            result = _eval(operand, scope)
            if isinstance(result, Deferred):
                return result
            if (is_and and not result) or (not is_and and result):
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, scope)
            pending = _deferred([left, right])
            if pending:
                return pending
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError:
                ok = False  # e.g. None < 5 when a value is absent: the condition is not met
            if not ok:
                return False
            left = right
        return True
    raise ExpressionError(f"{type(node).__name__} is not allowed")


def evaluate(expression: str, scope: Scope) -> Any:
    """The value of ``expression`` in ``scope`` (possibly Deferred)."""
    return _eval(parse(expression), scope)


def render(value: Any, scope: Scope) -> Any:
    """Render templates inside ``value`` (str, list, dict), keeping types.

    A string that is exactly one ``{{ expr }}`` becomes the expression's typed value; mixed
    text is interpolated into a string. Values are data: they never pass through a shell.
    """
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), scope)
        parts = [evaluate(m.group(1), scope) for m in TEMPLATE.finditer(value)]
        pending = _deferred(parts)
        if pending:
            return pending
        values = iter(parts)
        return TEMPLATE.sub(lambda _m: _text(next(values)), value)
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def template_expressions(value: Any) -> list[str]:
    """Every ``{{ expr }}`` expression inside ``value`` (recursively)."""
    if isinstance(value, str):
        return [m.group(1) for m in TEMPLATE.finditer(value)]
    if isinstance(value, list):
        return [e for v in value for e in template_expressions(v)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in template_expressions(v)]
    return []


def render_preview(text: str, scope: Scope) -> str:
    """``text`` with every known template filled in and run-time ones left as written."""

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), scope)
        return match.group(0) if isinstance(value, Deferred) else _text(value)

    return TEMPLATE.sub(one, text)
