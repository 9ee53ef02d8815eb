"""The annotated example in docs/playbooks.md is a real playbook: it lints and its
examples pass, so the documentation cannot drift from the format."""

from __future__ import annotations

import re
from pathlib import Path

from mspclaw.playbooks import lint_text, load_text, run_examples

DOC = Path(__file__).resolve().parents[2] / "docs" / "playbooks.md"


def test_annotated_example_lints_and_passes() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    example = next(b for b in blocks if b.startswith("id: "))
    assert lint_text(example, "docs/playbooks.md") == []
    results = run_examples(load_text(example))
    assert len(results) == 2 and all(r.passed for r in results), [r.failures for r in results]


def test_tool_table_lists_every_catalog_tool_with_its_risk() -> None:
    from mspclaw.tools import CATALOG

    text = DOC.read_text(encoding="utf-8")
    for name, spec in CATALOG.items():
        assert f"| `{name}` | {spec.risk} | `{spec.permission}` |" in text, name
