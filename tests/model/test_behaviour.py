"""Behavioural tests of the shipped model (`make repro` first; skipped where models/stance is
absent, as in a fresh clone): name invariance and the direction of a denial on the authored
templates of configs/behaviour.yaml (pipeline/behaviour.py). The floors sit below the shipped
model's figures (docs/results.md, "Behaviour") to catch a regression; the direction check is
the model's weak point, as the dev-set errors show."""

from pathlib import Path

import pytest

from pipeline import behaviour

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "stance"

pytestmark = pytest.mark.skipif(not (MODEL / "model.safetensors").exists(),
                                reason="no trained model: run `make repro` first")


@pytest.fixture(scope="module")
def result() -> dict:
    from pipeline.classifier import StanceClassifier

    classifier = StanceClassifier.load(MODEL, device="cpu")
    return behaviour.check(lambda texts: [p.label for p in classifier.predict(texts)],
                           behaviour.load_cases(ROOT / "configs" / "behaviour.yaml"))


def test_clear_sentences_get_their_label_whatever_the_parties(result):
    assert result["invariance_accuracy"] >= 0.95, result["failures"]


def test_labels_rarely_depend_on_the_parties_names(result):
    assert result["name_invariance"] >= 0.75, result["failures"]


def test_a_denied_allegation_reads_as_denial_and_its_report_as_accusation(result):
    assert result["denial_direction"] >= 0.7, result["failures"]
