"""The authored corpus in seeds/: valid, broad, and free of near-duplicates."""

import json

import pytest

from pipeline.config import load_params
from pipeline.corpus import check_diversity, diversity_report, load_authored
from pipeline.labels import LABELS


@pytest.fixture(scope="module")
def params(root):
    return load_params(root / "configs/params.yaml")


def test_corpus_meets_its_diversity_requirements(root, params):
    authored = load_authored(root / params.corpus.path)
    seeds = [json.loads(line)["text"] for line in (root / params.label.gold_path).read_text().splitlines()]
    report = diversity_report(params.corpus, authored, seeds)
    assert check_diversity(params.corpus, report) == []
    assert report["sentences"] >= 1500 and report["disputes"] >= 40
    assert all(report["label_counts"][lab] >= 300 for lab in LABELS)


def test_corpus_is_kept_apart_from_the_seed_dispute(root, params):
    """Authored disputes must not be the seed dispute, or seed evaluation would leak."""
    texts = " ".join(r["text"] for r in load_authored(root / params.corpus.path)).lower()
    for word in ("xinjiang", "uighur", "uyghur", "beijing", "pompeo"):
        assert word not in texts
