"""Intent taxonomy, the shipped default model, calibrated 'unsure', and tenant models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mspclaw.errors import InvalidInput
from mspclaw.triage.classifier import (
    DEFAULT_MODEL_PATH,
    IntentModel,
    LLMIntentAnswer,
    ModelLoadError,
    combine_with_llm,
    default_model,
    train,
    version_for,
)
from mspclaw.triage.normalise import normalise_ticket
from mspclaw.triage.seed_corpus import CORPUS_PATH, generate, holdout_examples, load_corpus
from mspclaw.triage.taxonomy import INTENT_IDS, merge_intents, validate_intent_id

OBVIOUS = {
    "I forgot my password": "password_reset",
    "printer on 2nd floor is offline": "printer",
    "My account is locked out after too many attempts": "account_lockout",
    "I got a new phone and need to move the authenticator app": "mfa",
    "VPN won't connect from home": "vpn",
    "The wifi in the meeting room keeps dropping": "wifi",
    "Outlook keeps asking for my password and my mailbox is full": "email",
    "C: drive is 98% full": "disk_space",
    "My computer is very slow and keeps freezing": "slow_computer",
    "Please install Adobe Acrobat on my laptop": "software_install",
    "New starter joining on Monday, please create accounts": "onboarding",
    "Sarah is leaving on Friday, please disable her account": "offboarding",
    "Can I have access to the finance shared folder?": "access_request",
    "My monitor is broken": "hardware",
    "I deleted a file by mistake, can you restore it from backup?": "backup",
    "I clicked a link in a phishing email": "security_alert",
    "Der Drucker im 2. Stock druckt nicht mehr": "printer",
    "J'ai oublié mon mot de passe": "password_reset",
}


def test_taxonomy_ids_are_exactly_the_documented_ones() -> None:
    assert INTENT_IDS == (
        "password_reset", "account_lockout", "mfa", "printer", "vpn", "wifi", "email",
        "disk_space", "slow_computer", "software_install", "onboarding", "offboarding",
        "access_request", "hardware", "backup", "security_alert", "other",
    )  # fmt: skip


def test_tenant_intents_are_validated_and_appended() -> None:
    merged = merge_intents({"payroll_system": "Payroll system", "cctv": ""})
    assert [i.id for i in merged[-2:]] == ["payroll_system", "cctv"]
    assert merged[-1].label == "cctv" and not merged[-1].builtin
    for bad in ("Payroll", "payroll-system", "_x", "a__b", "unsure", "9lives"):
        with pytest.raises(InvalidInput):
            merge_intents({bad: "x"})
    with pytest.raises(InvalidInput, match="built in"):
        merge_intents({"printer": "Printers and copiers"})
    assert validate_intent_id("line_of_business_app") == "line_of_business_app"


def test_shipped_model_loads_and_classifies_obvious_tickets() -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size < 5_000_000
    model = default_model()
    assert model.model_version.startswith("seed-")
    assert set(model.intents) == set(INTENT_IDS)
    wrong = {}
    for text, expected in OBVIOUS.items():
        prediction = model.predict(normalise_ticket("", text).text)
        if prediction.intent != expected:
            wrong[text] = prediction.intent
    assert wrong == {}


def test_prediction_carries_top_three_candidates_in_order() -> None:
    prediction = default_model().predict("I forgot my password")
    assert prediction.intent == "password_reset"
    assert prediction.confidence == prediction.candidates[0].probability
    assert len(prediction.candidates) == 3
    probabilities = [c.probability for c in prediction.candidates]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) <= 1.0 + 1e-6


def test_below_threshold_answers_unsure_with_candidates() -> None:
    model = default_model()
    vague = model.predict("see attached")
    assert vague.intent == "unsure"
    assert vague.confidence < 0.5 and len(vague.candidates) == 3
    # A tenant that wants near-certainty gets 'unsure' where the default would answer.
    strict = model.predict("printer on 2nd floor is offline", threshold=0.999)
    assert strict.intent == "unsure" and strict.candidates[0].intent == "printer"
    relaxed = model.predict("see attached", threshold=0.0)
    assert relaxed.intent == relaxed.candidates[0].intent
    with pytest.raises(InvalidInput):
        model.predict("x", threshold=1.5)


def test_shipped_model_was_trained_on_the_shipped_corpus_with_current_code() -> None:
    # Fails when the corpus, the normaliser or the parameters changed without
    # re-running scripts/build_intent_model.py.
    examples = load_corpus(CORPUS_PATH)
    texts = [normalise_ticket(e.subject, e.body).text for e in examples]
    expected = version_for(texts, [e.intent for e in examples], version_prefix="seed")
    assert default_model().model_version == expected


def test_shipped_corpus_is_what_the_generator_produces() -> None:
    shipped = load_corpus(CORPUS_PATH)
    assert shipped == generate()
    per_intent = {i: sum(e.intent == i for e in shipped) for i in INTENT_IDS}
    assert min(per_intent.values()) >= 200
    channels = {e.channel for e in shipped}
    assert {"email", "portal", "alert", "chat"} <= channels
    assert any(e.body.startswith("<html>") for e in shipped)
    assert all(e.template for e in shipped)
    assert len({(e.intent, e.template) for e in shipped}) > 17 * 10  # many phrasings each
    assert any("Original Message" in e.body or "wrote:" in e.body for e in shipped)


def _tenant_examples() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(12):
        texts.append(f"The CCTV camera {i} in the car park shows no picture")
        labels.append("cctv")
        texts.append(f"Payroll system export number {i} fails with an error")
        labels.append("payroll_system")
        texts.append(f"Printer {i} on the ground floor is jammed")
        labels.append("printer")
    return texts, labels


def test_tenant_model_learns_its_own_intents_and_round_trips(tmp_path: Path) -> None:
    texts, labels = _tenant_examples()
    model = train(texts, labels, threshold=0.4, version_prefix="tenant-acme")
    assert model.predict("cctv camera in the car park is dark").intent == "cctv"
    assert model.model_version == train(texts, labels).model_version.replace(
        "intent-", "tenant-acme-"
    )  # same data, same version
    saved = model.save(tmp_path / "acme.joblib")
    loaded = IntentModel.load(saved)
    assert loaded.model_version == model.model_version and loaded.threshold == 0.4
    probe = ["payroll export failing", "car park camera", "jammed printer"]
    assert loaded.predict_many(probe) == model.predict_many(probe)


def test_training_rejects_unusable_data() -> None:
    with pytest.raises(InvalidInput, match="snake_case"):
        train(["a", "b", "c", "d"], ["Printer", "Printer", "vpn", "vpn"])
    with pytest.raises(InvalidInput, match="at least two intents"):
        train(["a", "b", "c"], ["vpn", "vpn", "vpn"])
    with pytest.raises(InvalidInput, match="too few for: mfa"):
        train(["a", "b", "c", "d"], ["vpn", "vpn", "vpn", "mfa"])


def test_loading_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        IntentModel.load(tmp_path / "missing.joblib")
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        IntentModel.load(junk)


def test_fast_prediction_path_matches_the_sklearn_pipeline() -> None:
    model = default_model()
    texts = [normalise_ticket(e.subject, e.body).text for e in generate(per_intent=3, seed=5)]
    texts += ["", "zzzz qqqq", "printer"]
    fast = model.predict_proba(texts)
    reference = model.pipeline.predict_proba(texts)
    assert np.allclose(fast, reference, atol=1e-6)
    one_by_one = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(one_by_one, reference, atol=1e-6)


def test_llm_answer_is_combined_with_the_offline_prediction() -> None:
    offline = default_model().predict("weird email asking me to confirm my bank details")
    ids = list(INTENT_IDS)
    agree = combine_with_llm(
        offline,
        LLMIntentAnswer(intent="security_alert", confidence=0.95, model="gpt-x"),
        allowed_intents=ids,
    )
    assert agree.intent == "security_alert"
    assert agree.model_version == f"{offline.model_version}+gpt-x"
    # Two confident answers that disagree give 'unsure' (with both as candidates), not a guess.
    printer = default_model().predict("printer on 2nd floor is offline")
    doubt = combine_with_llm(printer, LLMIntentAnswer(intent="wifi", confidence=0.9), allowed_intents=ids)
    assert doubt.intent == "unsure" and doubt.confidence < printer.confidence - 0.4
    assert {c.intent for c in doubt.candidates} >= {"printer", "wifi"}
    # A hesitant LLM does not overturn a confident offline answer.
    hesitant = combine_with_llm(printer, LLMIntentAnswer(intent="wifi", confidence=0.3), allowed_intents=ids)
    assert hesitant.intent == "printer"
    # An intent outside the taxonomy is ignored rather than trusted.
    made_up = LLMIntentAnswer(intent="coffee_machine", confidence=1.0)
    assert combine_with_llm(printer, made_up, allowed_intents=ids) == printer
    assert combine_with_llm(printer, None, allowed_intents=ids) == printer


def test_hand_written_holdout_is_never_trained_on() -> None:
    corpus_text = "\n".join(f"{e.subject}\n{e.body}".lower() for e in load_corpus(CORPUS_PATH))
    for example in holdout_examples():
        assert example.body.lower() not in corpus_text
    assert {e.intent for e in holdout_examples()} == set(INTENT_IDS)
