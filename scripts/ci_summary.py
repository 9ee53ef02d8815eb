"""Print CI's closing line from a log of its test runs: 'tests: N passed, N failed, N skipped'.

CI's output ends with schemathesis, whose own closing line ("2 warnings in 42.54s") reads like a
pytest run that executed nothing, so .ci/run closes with the totals of every pytest run it made.
A pytest run that failed and was re-run (the slow fault tests allow one re-run) counts once, by
its re-run; reaching this script at all means every step passed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s")
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected)")


def main(log: Path) -> int:
    runs: list[dict[str, int]] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = SUMMARY.match(line.strip())
        if not match:
            continue
        counts = {kind: int(n) for n, kind in COUNT.findall(match.group(1))}
        if "passed" not in counts and "failed" not in counts:
            continue  # schemathesis' closing line, or a run that executed nothing
        runs.append(counts)
    # a failed run followed by its passing re-run counts once, by the re-run
    kept = [r for i, r in enumerate(runs) if not (r.get("failed") and i + 1 < len(runs))]
    passed = sum(r.get("passed", 0) for r in kept)
    failed = sum(r.get("failed", 0) + r.get("error", 0) + r.get("errors", 0) for r in kept)
    skipped = sum(r.get("skipped", 0) for r in kept)
    if not kept or passed == 0:
        print("ci_summary: no pytest run was found in the log", file=sys.stderr)
        return 1
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
