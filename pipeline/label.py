"""Stage `label`: sentences -> labelled sentences, gold first, weak labels elsewhere.

Labelled record (data/labeled.jsonl): every field of the sentence record, plus
    label         str | null  final label (null where there is no gold and the weak labeler abstains)
    label_source  str         gold | weak | none
    weak_label    str | null  the weak labeler's label, kept beside gold for auditing
    weak_probs    {label: p}  the label model's class probabilities
    votes         {rule: label} the labeling functions that fired
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from pipeline import paths
from pipeline.config import LabelConfig, Params
from pipeline.gold import GoldLabel, load_gold, match_gold
from pipeline.io import read_jsonl, write_json, write_jsonl
from pipeline.labels import ABSTAIN, ID2LABEL, LABELS
from pipeline.schema import GOLD
from pipeline.segmentation import Sentence
from pipeline.weak import LabelingFunction, load_rules, weak_label


def run(params: Params, report: Callable[[str], None]) -> str:
    """Label data/sentences.jsonl into data/labeled.jsonl, with the label metrics."""
    cfg = params.label
    rules = load_rules(cfg.rules_path)
    sentences = [Sentence(**r) for r in read_jsonl(paths.SENTENCES)]
    gold = match_gold(load_gold(cfg.gold_path), sentences, str(cfg.gold_path))
    records, metrics, rule_metrics = _label(cfg, sentences, gold, rules)
    write_jsonl(paths.LABELED, records)
    write_json(paths.LABEL_METRICS, metrics)
    write_json(paths.RULE_METRICS, rule_metrics)
    wg = metrics["weak_vs_gold"]
    return (f"label: {len(records)} sentences, {metrics['source_counts']}; weak labeler on gold: "
            f"coverage {wg.get('coverage')}, accuracy {wg.get('accuracy')}")


def _label(config: LabelConfig, sentences: list[Sentence], gold: dict[str, GoldLabel],
           rules: list[LabelingFunction]) -> tuple[list[dict], dict, dict]:
    """Label every sentence; return the records, the label metrics and the per-rule metrics."""
    weak = weak_label(rules, [s.text for s in sentences], config.label_model)
    records = []
    for i, s in enumerate(sentences):
        g = gold.get(s.sentence_id)
        label = g.label if g else weak.labels[i]
        records.append({
            **asdict(s),
            "label": label,
            "label_source": GOLD if g else ("weak" if label else "none"),
            "weak_label": weak.labels[i],
            "weak_probs": {lab: round(float(p), 4) for lab, p in zip(LABELS, weak.probs[i])},
            "votes": {r.name: ID2LABEL[int(v)] for r, v in zip(rules, weak.votes[i]) if v != ABSTAIN},
        })
    gold_rows = [i for i, r in enumerate(records) if r["label_source"] == GOLD]
    return records, _label_metrics(records, gold_rows), _rule_metrics(weak.votes, rules, records, gold_rows)


def _label_metrics(records: list[dict], gold_rows: list[int]) -> dict:
    return {
        "sentences": len(records),
        "label_counts": {lab: sum(r["label"] == lab for r in records) for lab in LABELS},
        "source_counts": {src: sum(r["label_source"] == src for r in records) for src in (GOLD, "weak", "none")},
        "weak_vs_gold": _weak_vs_gold([records[i] for i in gold_rows]),
    }


def _weak_vs_gold(gold_records: list[dict]) -> dict:
    """Coverage of the weak labeler on gold sentences; accuracy and macro-F1 where it voted."""
    covered = [r for r in gold_records if r["weak_label"] is not None]
    if not gold_records:
        return {"gold_sentences": 0}
    y_true = [r["label"] for r in covered]
    y_pred = [r["weak_label"] for r in covered]
    return {
        "gold_sentences": len(gold_records),
        "coverage": round(len(covered) / len(gold_records), 4),
        "accuracy": round(accuracy_score(y_true, y_pred), 4) if covered else 0.0,
        "macro_f1": round(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0), 4)
        if covered else 0.0,
    }


def _rule_metrics(votes: np.ndarray, rules: list[LabelingFunction], records: list[dict], gold_rows: list[int]) -> dict:
    fired = votes != ABSTAIN
    others = fired.sum(axis=1, keepdims=True) - fired  # how many other rules fired on the row
    metrics = {}
    for j, rule in enumerate(rules):
        col = fired[:, j]
        disagree = np.array([
            col[i] and any(v not in (ABSTAIN, votes[i, j]) for v in votes[i]) for i in range(len(records))
        ], dtype=bool)
        gold_fired = [i for i in gold_rows if col[i]]
        correct = sum(records[i]["label"] == rule.label for i in gold_fired)
        n = max(len(records), 1)
        metrics[rule.name] = {
            "coverage": round(col.sum() / n, 4),
            "overlap": round((col & (others[:, j] > 0)).sum() / n, 4),
            "conflict": round(disagree.sum() / n, 4),
            "gold_accuracy": round(correct / len(gold_fired), 4) if gold_fired else None,
        }
    return metrics
