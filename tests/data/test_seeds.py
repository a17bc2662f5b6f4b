"""The files in seeds/: articles as shipped, gold labels complete and valid."""

import hashlib
import json
from collections import Counter

import pytest

from pipeline.config import load_params
from pipeline.gold import load_gold, match_gold
from pipeline.inputs import InputConfig, read_documents
from pipeline.labels import LABELS
from pipeline.segmentation import load_boilerplate, segment_article

SEED_ARTICLES = {  # the five seed articles, byte for byte as received: sha256
    "000_f88a3121e725a9b8.txt": "edcf139efa64c360414a9231fe28259f6b40c9341f3cce611dfc0a73c3a4b033",
    "001_88a73cd9b8fa68ae.txt": "a693c5672158c7ab3f921a62fa3aafcf631a114b27f580921cc9c4dbd24a8fc2",
    "002_f136ced4881e9e98.txt": "983db24647f04456e6343051cd0207792b5136feb4af82bb0f7456f8915f10ae",
    "003_36ef1737c32e9528.txt": "ff35b89f78b4990f828c2b277f465feeef3e90be5ac74d02d86a6cebc09fc8c3",
    "004_600ffb4f109f7ade.txt": "00e0c9541d4370d92355bf27333a8d309da1a9bf90b7f0854c5bb3abf812a20d",
}


@pytest.fixture(scope="module")
def params(root):
    return load_params(root / "configs/params.yaml")


@pytest.fixture(scope="module")
def sentences(root, params):
    cfg = params.segment
    boilerplate = load_boilerplate(root / cfg.boilerplate_path)
    problems = []
    articles = list(read_documents([str(root / cfg.articles_dir)], InputConfig(cfg.max_article_bytes), problems.append))
    assert problems == []
    return [s for article in articles for s in segment_article(article, cfg, boilerplate)]


def test_seed_articles_are_present_and_unchanged(root):
    for name, sha256 in SEED_ARTICLES.items():
        assert hashlib.sha256((root / "seeds/articles" / name).read_bytes()).hexdigest() == sha256, name


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
