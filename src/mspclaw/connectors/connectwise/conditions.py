"""The ConnectWise ``conditions`` query language, parsed and evaluated (for the simulator).

Grammar: comparisons ``field op value`` joined by ``and``/``or`` with parentheses; fields
are slash paths (``board/name``); strings in double quotes, datetimes in ``[...]``, numbers
and ``true``/``false``/``null`` bare; operators ``= != < <= > >= contains like in not in``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
    |(?P<dt>\[[^\]]*\])
    |(?P<op><=|>=|!=|=|<|>)
    |(?P<punct>[(),])
    |(?P<num>-?\d+(?:\.\d+)?(?![\w/]))
    |(?P<word>[A-Za-z_][\w/.]*)
    )""",
    re.X,
)
ALIASES = {"lastupdated": "_info/lastUpdated", "dateentered": "_info/dateEntered"}


class ConditionError(ValueError):
    """The conditions string does not parse (CW answers 400 InvalidObject)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"cannot parse conditions near {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _value(kind: str, raw: str) -> Any:
    if kind == "str":
        return bytes(raw[1:-1], "utf-8").decode("unicode_escape")
    if kind == "dt":
        return parse_cw_time(raw[1:-1])
    if kind == "num":
        return float(raw)
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    raise ConditionError(f"unexpected {raw!r}")


def parse_cw_time(text: str) -> datetime:
    """A CW datetime (UTC ``Z`` or offset; naive means UTC)."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ConditionError("conditions end too early")
        self.i += 1
        return tok

    def expr(self) -> Any:
        node = self.term()
        while (tok := self.peek()) and tok[1].lower() == "or":
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self) -> Any:
        node = self.factor()
        while (tok := self.peek()) and tok[1].lower() == "and":
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self) -> Any:
        kind, raw = self.take()
        if raw == "(":
            node = self.expr()
            if self.take()[1] != ")":
                raise ConditionError("missing )")
            return node
        if kind != "word":
            raise ConditionError(f"expected a field name, got {raw!r}")
        field = ALIASES.get(raw.lower(), raw)
        _, op = self.take()
        negate = False
        if op.lower() == "not":
            negate, (_op_kind, op) = True, self.take()
        op = op.lower()
        if op == "in":
            if self.take()[1] != "(":
                raise ConditionError("in needs (...)")
            values = []
            while True:
                vk, vr = self.take()
                values.append(_value(vk, vr))
                sep = self.take()[1]
                if sep == ")":
                    break
                if sep != ",":
                    raise ConditionError("expected , or )")
            return ("cmp", field, "in", values, negate)
        if op not in ("=", "!=", "<", "<=", ">", ">=", "contains", "like"):
            raise ConditionError(f"unknown operator {op!r}")
        vk, vr = self.take()
        return ("cmp", field, op, _value(vk, vr), negate)


def parse(text: str) -> Any:
    """Parse a conditions string into a small tree."""
    parser = _Parser(text)
    tree = parser.expr()
    if parser.peek() is not None:
        raise ConditionError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return tree


def field_value(record: dict[str, Any], path: str) -> Any:
    """A slash-path field of a record (``board/name``, ``_info/lastUpdated``)."""
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _coerce(actual: Any, wanted: Any) -> tuple[Any, Any]:
    if isinstance(wanted, datetime) and isinstance(actual, str):
        return parse_cw_time(actual), wanted
    if isinstance(wanted, float) and actual is not None and not isinstance(actual, bool):
        return float(actual), wanted
    if isinstance(wanted, str) and actual is not None:
        return str(actual).casefold(), wanted.casefold()
    return actual, wanted


def evaluate(tree: Any, record: dict[str, Any]) -> bool:
    """Whether a record satisfies a parsed conditions tree."""
    if tree[0] == "and":
        return evaluate(tree[1], record) and evaluate(tree[2], record)
    if tree[0] == "or":
        return evaluate(tree[1], record) or evaluate(tree[2], record)
    _, field, op, wanted, negate = tree
    actual = field_value(record, field)
    if op == "in":
        result = any(_coerce(actual, w)[0] == _coerce(actual, w)[1] for w in wanted)
    elif actual is None:
        result = (op == "=" and wanted is None) or (op == "!=" and wanted is not None)
    else:
        a, w = _coerce(actual, wanted)
        if op in ("contains", "like"):
            pattern = str(w).replace("*", "").replace("%", "")
            result = pattern in str(a)
        else:
            result = {
                "=": lambda: a == w,
                "!=": lambda: a != w,
                "<": lambda: a < w,
                "<=": lambda: a <= w,
                ">": lambda: a > w,
                ">=": lambda: a >= w,
            }[op]()
    return not result if negate else bool(result)
