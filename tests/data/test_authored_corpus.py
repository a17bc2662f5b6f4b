"""The authored corpus in seeds/ (`corpus.paths`): valid, broad, news-like, free of
near-duplicates, and kept apart from the seed dispute."""

import json
from collections import Counter

import pytest

from pipeline.authored import load_authored
from pipeline.config import load_params
from pipeline.corpus import _problems, _report
from pipeline.labels import LABELS

ARTICLES = "seeds/authored_articles.jsonl"


@pytest.fixture(scope="module")
def params(root):
    return load_params(root / "configs/params.yaml")


@pytest.fixture(scope="module")
def authored(root, params):
    return load_authored([root / p for p in params.corpus.paths])


def test_corpus_passes_the_corpus_stage_checks(root, params, authored):
    seeds = [json.loads(line)["text"] for line in (root / params.label.gold_path).read_text().splitlines()]
    report = _report(params.corpus, authored, seeds)
    assert _problems(params.corpus, report) == []
    assert all(report["label_counts"][lab] >= 300 for lab in LABELS)


def test_articles_read_like_the_news(root):
    """At least 400 articles and 6,000 sentences on 200 disputes across six kinds of dispute,
    sentences as long as news sentences, every article whole and in order from its headline."""
    rows = [json.loads(line) for line in (root / ARTICLES).read_text().splitlines()]
    articles = Counter(r["article_id"] for r in rows)
    assert len(rows) >= 6000 and len(articles) >= 400 and len({r["dispute"] for r in rows}) >= 200
    words = sorted(len(r["text"].split()) for r in rows)
    assert words[len(words) // 2] >= 22
    assert {r["domain"] for r in rows} == {"company", "state", "military", "sport", "public-figure", "institution"}
    for article, n in articles.items():
        assert [r["index"] for r in rows if r["article_id"] == article] == list(range(n)), article
    shares = Counter(r["label"] for r in rows)
    assert all(0.2 <= shares[lab] / len(rows) <= 0.45 for lab in LABELS), shares


def test_corpus_is_kept_apart_from_the_seed_dispute(authored):
    """Authored disputes must not be the seed dispute, or seed evaluation would leak."""
    texts = " ".join(r["text"] for r in authored).lower()
    for word in ("xinjiang", "uighur", "uyghur", "beijing", "pompeo"):
        assert word not in texts
