"""Loading playbooks: YAML text -> validated ``Playbook`` with line numbers for errors,
a content hash per version, and the registry of built-in playbooks.

A version is immutable: its content hash is over the canonical JSON of the validated
playbook, so any edit (even of a note template) gives a different hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mspclaw.errors import Conflict, InvalidInput, NotFound
from mspclaw.playbooks.models import Playbook

BUILTIN_DIR = Path(__file__).parent / "builtin"


@dataclass(frozen=True)
class SourceProblem:
    """One problem found in a playbook file, located where possible."""

    source: str
    line: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.severity}: {self.message}"


class PlaybookInvalid(InvalidInput):
    """The playbook does not parse or validate; ``problems`` lists each with its line."""

    code = "playbook_invalid"

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(
            "; ".join(str(p) for p in problems),
            detail=[{"line": p.line, "message": p.message} for p in problems],
        )
        self.problems = problems


@dataclass(frozen=True)
class LoadedPlaybook:
    """A validated playbook with where it came from and its immutable content hash."""

    playbook: Playbook
    source: str
    content_hash: str
    node: yaml.Node | None

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the YAML value at ``loc`` (falls back to the nearest parent)."""
        return line_of(self.node, loc)


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the node at path ``loc`` inside ``node`` (nearest existing parent)."""
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    current: yaml.Node = node
    for key in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for k_node, v_node in current.value:
                if str(k_node.value) == str(key):
                    nxt = v_node
                    line = int(k_node.start_mark.line) + 1
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(key, int):
            if 0 <= key < len(current.value):
                nxt = current.value[key]
                line = int(nxt.start_mark.line) + 1
        if nxt is None:
            break
        current = nxt
    return line


def content_hash(playbook: Playbook) -> str:
    """sha256 of the canonical JSON form of a validated playbook."""
    canonical = json.dumps(playbook.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """(data, node tree) of YAML ``text``; PlaybookInvalid with the line on syntax errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookInvalid([SourceProblem(source, line, f"YAML syntax: {problem}")]) from exc
    return data, node


def load_text(text: str, source: str = "<playbook>") -> LoadedPlaybook:
    """Validate playbook YAML ``text``; PlaybookInvalid lists every schema error by line."""
    data, node = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise PlaybookInvalid([SourceProblem(source, 1, "a playbook must be a YAML mapping")])
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if isinstance(p, (str, int))]
            path = ".".join(str(p) for p in loc) or "(playbook)"
            problems.append(SourceProblem(source, line_of(node, loc), f"{path}: {err['msg']}"))
        raise PlaybookInvalid(problems) from exc
    return LoadedPlaybook(playbook, source, content_hash(playbook), node)


def load_file(path: str | Path) -> LoadedPlaybook:
    """Load and validate the playbook in ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookInvalid([SourceProblem(str(p), None, f"cannot read: {exc}")]) from exc
    return load_text(text, str(p))


@lru_cache(maxsize=1)
def _builtin() -> dict[str, LoadedPlaybook]:
    loaded: dict[str, LoadedPlaybook] = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        item = load_file(path)
        if item.playbook.id in loaded:
            raise PlaybookInvalid([SourceProblem(str(path), 1, f"duplicate built-in id {item.playbook.id}")])
        loaded[item.playbook.id] = item
    return loaded


def builtin_playbooks() -> dict[str, LoadedPlaybook]:
    """The shipped playbooks, by id."""
    return dict(_builtin())


def builtin_paths() -> list[Path]:
    """Files of the shipped playbooks."""
    return sorted(BUILTIN_DIR.glob("*.yaml"))


def get_builtin(playbook_id: str) -> LoadedPlaybook:
    """The shipped playbook ``playbook_id``, or NotFound."""
    found = _builtin().get(playbook_id)
    if found is None:
        raise NotFound(
            f"no built-in playbook {playbook_id!r}",
            detail={"known": sorted(_builtin())},
        )
    return found


def load_reference(ref: str) -> LoadedPlaybook:
    """A built-in id or a path to a playbook file."""
    if ref in _builtin():
        return _builtin()[ref]
    if Path(ref).exists():
        return load_file(ref)
    raise NotFound(f"{ref!r} is neither a built-in playbook id nor a file")


def ensure_new_version(known_hashes: dict[tuple[str, str], str], loaded: LoadedPlaybook) -> bool:
    """Whether ``loaded`` is a new version; Conflict if its id+version exists with other content.

    ``known_hashes`` maps (id, version) to the content hash already stored. Re-publishing
    identical content is a no-op (False); changed content needs a new version number.
    """
    key = (loaded.playbook.id, loaded.playbook.version)
    previous = known_hashes.get(key)
    if previous is None:
        return True
    if previous != loaded.content_hash:
        raise Conflict(
            f"playbook {key[0]} {key[1]} already exists with different content; "
            "versions are immutable, so bump the version",
            detail={"id": key[0], "version": key[1], "stored": previous, "new": loaded.content_hash},
        )
    return False
