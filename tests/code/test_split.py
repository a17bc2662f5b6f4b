import json

import pytest

from pipeline import paths
from pipeline.config import ConfigError, Params, SplitConfig
from pipeline.schema import group_folds, records_in, training_records
from pipeline.split import run


def records(articles=("a", "b", "c", "d"), per=3, source="gold"):
    return [{"sentence_id": f"{a}{i}", "article_id": a, "label": "neutral", "label_source": source}
            for a in articles for i in range(per)]


@pytest.fixture
def split(tmp_path, monkeypatch):
    """Run the split stage on `rows` in a scratch folder; returns data/splits.jsonl's rows."""
    monkeypatch.chdir(tmp_path)

    def do(rows, **config):
        paths.DATA.mkdir(exist_ok=True)
        paths.LABELED.write_text("".join(json.dumps(r) + "\n" for r in rows))
        run(Params(split=SplitConfig(**config)), print)
        return [json.loads(line) for line in paths.SPLITS.read_text().splitlines()]

    return do


def test_whole_articles_only_and_seeded(split):
    rows = records()
    first = split(rows, test_articles=1, seed=3)
    by_article = {}
    for r in first:
        by_article.setdefault(r["article_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_article.values())
    assert sum(s == {"test"} for s in by_article.values()) == 1
    assert first == split(rows, test_articles=1, seed=3)


def test_unlabelled_rows_are_not_split_and_weak_articles_never_test(split):
    rows = records(("a", "b")) + records(("w",), source="weak") + [
        {"sentence_id": "n", "article_id": "w", "label": None, "label_source": "none"}]
    out = split(rows, test_articles=1)
    assert "n" not in {r["sentence_id"] for r in out}
    assert all(r["split"] == "train" for r in out if r["article_id"] == "w")


def test_too_few_gold_articles(split):
    with pytest.raises(ConfigError, match="split.test_articles is 2 but only 2 articles"):
        split(records(("a", "b")), test_articles=2)


def test_training_records_keep_weak_behind_the_param(split):
    rows = records(("a", "b")) + records(("w",), source="weak")
    out = split(rows, test_articles=1, seed=0)
    test_article = records_in("test", rows, out)[0]["article_id"]
    gold_only = training_records(rows, out, use_weak_labels=False)
    with_weak = training_records(rows, out, use_weak_labels=True)
    assert {r["article_id"] for r in gold_only} == {"a", "b"} - {test_article}
    assert {r["article_id"] for r in with_weak} == ({"a", "b"} - {test_article}) | {"w"}


@pytest.mark.parametrize("folds, expected", [(0, 5), (5, 5), (9, 5), (2, 2)])
def test_group_folds_cover_each_group_once(folds, expected):
    groups = group_folds(list("abcde") * 2, folds, seed=1)
    assert len(groups) == expected
    assert sorted(a for g in groups for a in g) == list("abcde")
    assert groups == group_folds(list("edcba"), folds, seed=1)  # seeded, whatever the order
