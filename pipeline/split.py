"""Stage `split`: assign whole articles to train or test, so that no article's sentences fall
in two splits. Only labelled sentences are split; the held-out articles are drawn (seeded)
from those with gold labels.

Split record (data/splits.jsonl): sentence_id, article_id, split ("train" | "test").
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from pipeline import paths
from pipeline.config import ConfigError, Params
from pipeline.io import read_jsonl, write_jsonl
from pipeline.schema import GOLD


def run(params: Params, report: Callable[[str], None]) -> str:
    config = params.split
    records = list(read_jsonl(paths.LABELED))
    gold_articles = sorted({r["article_id"] for r in records if r["label_source"] == GOLD})
    if len(gold_articles) <= config.test_articles:
        raise ConfigError(f"split.test_articles is {config.test_articles} but only {len(gold_articles)} articles "
                          "have gold labels: nothing would be left to train on")
    test = set(random.Random(config.seed).sample(gold_articles, config.test_articles))
    rows = [{"sentence_id": r["sentence_id"], "article_id": r["article_id"],
             "split": "test" if r["article_id"] in test else "train"}
            for r in records if r["label"] is not None]
    write_jsonl(paths.SPLITS, rows)
    return f"split: {dict(Counter(r['split'] for r in rows))}; test articles: {', '.join(sorted(test))}"
