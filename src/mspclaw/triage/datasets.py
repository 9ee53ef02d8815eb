"""Locating the public labelled datasets used by the evaluation harness.

The datasets are not part of the product and never copied into the repository: they are read
from ``MSPCLAW_DATASETS_DIR``, a path given on the command line, or ``shared/datasets`` beside
the checkout. When absent, callers get :class:`DatasetMissing` with a message saying where we looked.
"""

from __future__ import annotations

import os
from pathlib import Path

from mspclaw.errors import MSPclawError

#: dataset name used on the command line -> folder name under the datasets root
DATASET_FOLDERS: dict[str, str] = {
    "endava": "endava-it-tickets",
    "gl-assignment": "gl-ticket-assignment",
    "ait": "ait-alert-dataset",
}


class DatasetMissing(MSPclawError):
    """The requested evaluation dataset is not on this machine."""

    code = "dataset_missing"
    status_code = 404


def _candidate_roots() -> list[Path]:
    roots: list[Path] = []
    env = os.environ.get("MSPCLAW_DATASETS_DIR")
    if env:
        roots.append(Path(env))
    here = Path(__file__).resolve()
    # src/mspclaw/triage/datasets.py -> checkout root is parents[3]; shared/ sits beside it.
    for base in (Path.cwd(), here.parents[3]):
        roots.append(base.parent / "shared" / "datasets")
        roots.append(base / "shared" / "datasets")
    return roots


def find_dataset(name: str, root: Path | None = None) -> Path:
    """Return the folder of dataset ``name`` (see DATASET_FOLDERS), or raise DatasetMissing."""
    if name not in DATASET_FOLDERS:
        raise DatasetMissing(
            f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASET_FOLDERS))}"
        )
    folder = DATASET_FOLDERS[name]
    roots = [root] if root is not None else _candidate_roots()
    for candidate_root in roots:
        for candidate in (candidate_root / folder, candidate_root):
            if (candidate / "README.md").exists() and candidate.name == folder:
                return candidate
    looked = ", ".join(str(r / folder) for r in roots)
    raise DatasetMissing(
        f"dataset {name!r} not found (looked in: {looked}); pass --data-dir or set "
        "MSPCLAW_DATASETS_DIR to the folder that holds it",
        detail={"dataset": name, "looked_in": [str(r / folder) for r in roots]},
    )
