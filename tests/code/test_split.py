import pytest

from pipeline.config import SplitConfig
from pipeline.split import article_folds, records_in, split_articles, training_records


def records(articles=("a", "b", "c", "d"), per=3, source="gold"):
    return [{"sentence_id": f"{a}{i}", "article_id": a, "label": "neutral", "label_source": source}
            for a in articles for i in range(per)]


def test_whole_articles_only_and_seeded():
    rows = records()
    split = split_articles(SplitConfig(test_articles=1, seed=3), rows)
    by_article = {}
    for r in split:
        by_article.setdefault(r["article_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_article.values())
    assert sum(s == {"test"} for s in by_article.values()) == 1
    assert split == split_articles(SplitConfig(test_articles=1, seed=3), rows)


def test_unlabelled_rows_are_not_split_and_weak_articles_never_test():
    rows = records(("a", "b")) + records(("w",), source="weak") + [
        {"sentence_id": "n", "article_id": "w", "label": None, "label_source": "none"}]
    split = split_articles(SplitConfig(test_articles=1), rows)
    assert "n" not in {r["sentence_id"] for r in split}
    assert all(r["split"] == "train" for r in split if r["article_id"] == "w")


def test_too_few_gold_articles():
    with pytest.raises(ValueError, match="split.test_articles is 2 but only 2 articles"):
        split_articles(SplitConfig(test_articles=2), records(("a", "b")))


def test_training_records_keep_weak_behind_the_param():
    rows = records(("a", "b")) + records(("w",), source="weak")
    split = split_articles(SplitConfig(test_articles=1, seed=0), rows)
    test_article = records_in("test", rows, split)[0]["article_id"]
    gold_only = training_records(rows, split, use_weak_labels=False)
    with_weak = training_records(rows, split, use_weak_labels=True)
    assert {r["article_id"] for r in gold_only} == {"a", "b"} - {test_article}
    assert {r["article_id"] for r in with_weak} == ({"a", "b"} - {test_article}) | {"w"}


@pytest.mark.parametrize("folds, expected", [(0, 5), (5, 5), (9, 5), (2, 2)])
def test_article_folds_cover_each_article_once(folds, expected):
    groups = article_folds(list("abcde"), folds, seed=1)
    assert len(groups) == expected
    assert sorted(a for g in groups for a in g) == list("abcde")
