"""The files in seeds/: articles as shipped, gold labels complete and valid."""

import hashlib
import json
from collections import Counter

import pytest
import yaml

from pipeline.config import load_params
from pipeline.gold import load_gold, match_gold
from pipeline.io import read_articles
from pipeline.labels import LABELS
from pipeline.segment import compile_boilerplate, segment_articles

SEED_ARTICLES = {  # the five seed articles, byte for byte as received
    "000_f88a3121e725a9b8.txt", "001_88a73cd9b8fa68ae.txt", "002_f136ced4881e9e98.txt",
    "003_36ef1737c32e9528.txt", "004_600ffb4f109f7ade.txt",
}


@pytest.fixture(scope="module")
def params(root):
    return load_params(root / "configs/params.yaml")


@pytest.fixture(scope="module")
def sentences(root, params):
    cfg = params.segment
    boilerplate = compile_boilerplate(yaml.safe_load((root / cfg.boilerplate_path).read_text())["drop_lines"])
    articles, problems = read_articles(root / cfg.articles_dir, cfg.max_article_bytes)
    assert problems == []
    return segment_articles(cfg, articles, boilerplate)


def test_seed_articles_are_present_and_unchanged(root):
    names = {p.name for p in (root / "seeds/articles").iterdir()}
    assert SEED_ARTICLES <= names
    shared = root.parent / "shared" / "seeds"
    if shared.is_dir():  # the original copies, where this checkout has them beside it
        for name in SEED_ARTICLES:
            assert (root / "seeds/articles" / name).read_bytes() == (shared / name).read_bytes()


def test_gold_file_schema(root, params):
    rows = [json.loads(line) for line in (root / params.label.gold_path).read_text().splitlines() if line.strip()]
    allowed = {"sentence_id", "article_id", "text", "label", "note"}
    for row in rows:
        assert set(row) <= allowed and {"text", "label"} <= set(row)
        assert row["label"] in LABELS
    assert len({r["sentence_id"] for r in rows}) == len(rows)
    assert set(Counter(r["label"] for r in rows)) == set(LABELS)


def test_every_seed_sentence_has_a_gold_label(root, params, sentences):
    gold = match_gold(load_gold(root / params.label.gold_path), sentences, "gold")
    missing = [s.text for s in sentences if s.sentence_id not in gold]
    assert missing == []


def test_sentence_ids_are_unique(sentences):
    ids = [s.sentence_id for s in sentences]
    assert len(ids) == len(set(ids))
    assert len(sentences) > 80
