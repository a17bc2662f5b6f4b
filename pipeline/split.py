"""Stage `split`: assign whole articles to train or test, so that no article's
sentences fall in two splits. Only labelled sentences are split; the held-out
articles are drawn (seeded) from those with gold labels.

Split record (data/splits.jsonl): sentence_id, article_id, split ("train" | "test").
"""

from __future__ import annotations

import random

from pipeline.config import SplitConfig


def split_articles(config: SplitConfig, records: list[dict]) -> list[dict]:
    gold_articles = sorted({r["article_id"] for r in records if r["label_source"] == "gold"})
    if len(gold_articles) <= config.test_articles:
        raise ValueError(f"split.test_articles is {config.test_articles} but only "
                         f"{len(gold_articles)} articles have gold labels: nothing would be left to train on")
    test = set(random.Random(config.seed).sample(gold_articles, config.test_articles))
    return [
        {"sentence_id": r["sentence_id"], "article_id": r["article_id"],
         "split": "test" if r["article_id"] in test else "train"}
        for r in records if r["label"] is not None
    ]


def article_folds(articles: list[str], folds: int, seed: int) -> list[list[str]]:
    """Groups of held-out articles for grouped cross-validation: one article per fold
    when `folds` is 0 or at least the number of articles."""
    articles = sorted(articles)
    if folds == 0 or folds >= len(articles):
        return [[a] for a in articles]
    shuffled = articles[:]
    random.Random(seed).shuffle(shuffled)
    return [sorted(shuffled[i::folds]) for i in range(folds)]


def records_in(split: str, records: list[dict], splits: list[dict]) -> list[dict]:
    """The gold-or-weak labelled records assigned to `split`."""
    ids = {s["sentence_id"] for s in splits if s["split"] == split}
    return [r for r in records if r["sentence_id"] in ids]


def training_records(records: list[dict], splits: list[dict], use_weak_labels: bool) -> list[dict]:
    """Gold sentences of the train split, plus (behind a param) weak-labelled sentences of
    articles that have no gold labels at all, so no held-out article leaks in."""
    train = [r for r in records_in("train", records, splits) if r["label_source"] == "gold"]
    return train + weak_only_articles(records) if use_weak_labels else train


def weak_only_articles(records: list[dict]) -> list[dict]:
    """Weak-labelled sentences of articles that have no gold label at all."""
    gold_articles = {r["article_id"] for r in records if r["label_source"] == "gold"}
    return [r for r in records if r["label_source"] == "weak" and r["article_id"] not in gold_articles]
