"""The records that flow between stages, documented once. Records are plain dicts (they
are JSON lines on disk); these TypedDicts name their fields for readers and type checkers.

data/sentences.jsonl (stage segment):   Sentence
data/labeled.jsonl   (stage label):     Labeled = Sentence + label fields
data/splits.jsonl    (stage split):     SplitRow
authored corpus rows (pipeline/authored.py), as the training code sees them: Authored
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal, TypedDict

Label = Literal["accusation", "denial", "neutral"]
LabelSource = Literal["gold", "weak", "none", "authored", "augmented"]
GOLD: LabelSource = "gold"
WEAK: LabelSource = "weak"
AUTHORED: LabelSource = "authored"


class Sentence(TypedDict):
    sentence_id: str  # 16 hex chars: hash of article id + normalised text (stable across re-segmentation)
    article_id: str  # the article file's stem
    index: int  # 0-based position in the article
    start: int | None  # character offsets: article[start:end] == text (None for pre-split input)
    end: int | None
    text: str
    paragraph: int | None  # 0-based paragraph (non-blank line) of the article


class Labeled(Sentence):
    label: Label | None  # null where there is no gold and the weak labeler abstains
    label_source: LabelSource  # gold | weak | none
    weak_label: Label | None  # the weak labeler's label, kept beside gold for auditing
    weak_probs: dict[str, float]
    votes: dict[str, str]  # rule name -> label, for the rules that fired


class SplitRow(TypedDict):
    sentence_id: str
    article_id: str
    split: Literal["train", "test"]


class Authored(TypedDict):
    sentence_id: str  # "authored:<article id>:<index>" (or "authored:<id>" for a loose sentence)
    article_id: str  # "authored:<article id>" (or "authored:<dispute>" for loose sentences)
    index: int | None
    text: str
    label: Label
    dispute: str
    domain: str | None
    label_source: LabelSource  # "authored"
    context: list[str]  # [headline, previous sentence]; "" where there is none


def gold(records: list[dict]) -> list[dict]:
    return [r for r in records if r["label_source"] == GOLD]


def with_context(records: list[dict], articles: list[dict] | None = None) -> list[dict]:
    """`records` each with `context` = [headline, previous sentence] of its article, taken from
    `articles` (all sentences, labelled or not; default: the records themselves), ordered by
    `index`. The headline is the article's first sentence; a record without an index (a loose
    authored sentence) gets none."""
    by_article: dict[str, dict[int, str]] = defaultdict(dict)
    for r in articles if articles is not None else records:
        if r.get("index") is not None:
            by_article[r["article_id"]][r["index"]] = r["text"]
    out = []
    for r in records:
        sentences = by_article.get(r["article_id"], {})
        index = r.get("index")
        if index is None or not sentences:
            out.append({**r, "context": ["", ""]})
            continue
        first = min(sentences)
        headline = sentences[first] if index != first else ""
        previous = max((i for i in sentences if i < index), default=None)
        out.append({**r, "context": [headline, sentences[previous] if previous is not None else ""]})
    return out


def records_in(split: str, records: list[dict], splits: list[dict]) -> list[dict]:
    """The labelled records assigned to `split` (data/splits.jsonl)."""
    ids = {s["sentence_id"] for s in splits if s["split"] == split}
    return [r for r in records if r["sentence_id"] in ids]


def weak_only_articles(records: list[dict]) -> list[dict]:
    """Weak-labelled sentences of articles that have no gold label at all."""
    gold_articles = {r["article_id"] for r in records if r["label_source"] == GOLD}
    return [r for r in records if r["label_source"] == WEAK and r["article_id"] not in gold_articles]


def training_records(records: list[dict], splits: list[dict], use_weak_labels: bool) -> list[dict]:
    """Gold sentences of the train split, plus (behind a param) weak-labelled sentences of
    articles that have no gold labels at all, so no held-out article leaks in."""
    train = gold(records_in("train", records, splits))
    return train + weak_only_articles(records) if use_weak_labels else train


def group_folds(groups: list[str], folds: int, seed: int) -> list[list[str]]:
    """Held-out groups (articles, disputes) of each fold of grouped cross-validation: one group
    per fold (LeaveOneGroupOut) when `folds` is 0 or at least the number of groups, else
    `folds` shuffled groups of groups (GroupKFold)."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    groups = sorted(set(groups))
    splitter = LeaveOneGroupOut() if folds == 0 or folds >= len(groups) \
        else GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [sorted(groups[i] for i in test) for _, test in splitter.split(groups, groups=groups)]
