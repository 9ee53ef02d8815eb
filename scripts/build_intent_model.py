"""Regenerate the shipped seed corpus and default intent model (deterministic).

Usage: .venv/bin/python scripts/build_intent_model.py
Writes src/mspclaw/triage/data/seed_corpus.jsonl.gz and intent_model.joblib.
"""

from __future__ import annotations

import time

from mspclaw.triage.classifier import DEFAULT_MODEL_PATH, train
from mspclaw.triage.normalise import normalise_ticket
from mspclaw.triage.seed_corpus import CORPUS_PATH, generate, load_corpus, write_corpus


def main() -> None:
    started = time.perf_counter()
    write_corpus(generate())
    examples = load_corpus(CORPUS_PATH)
    texts = [normalise_ticket(e.subject, e.body).text for e in examples]
    model = train(texts, [e.intent for e in examples], version_prefix="seed")
    model.save(DEFAULT_MODEL_PATH)
    print(
        f"{len(examples)} examples -> {DEFAULT_MODEL_PATH.name} {model.version} "
        f"({DEFAULT_MODEL_PATH.stat().st_size / 1e6:.2f} MB, "
        f"corpus {CORPUS_PATH.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - started:.1f}s"
    )


if __name__ == "__main__":
    main()
