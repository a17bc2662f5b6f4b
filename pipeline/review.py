"""The review loop: pick the sentences most worth a person's time, and merge their
decisions back into the gold labels so that the next `dvc repro` trains on them.

Export CSV columns (opens in any spreadsheet):
    sentence_id, article_id, text, suggestion (the model's label), confidence,
    weak_label, reason, label (empty: the reviewer fills it), note (optional)
Rows with an empty `label` are not reviewed yet and are left out on import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pipeline.io import InputError
from pipeline.labels import LABELS

EXPORT_COLUMNS = ["sentence_id", "article_id", "text", "suggestion", "confidence", "weak_label", "reason",
                  "label", "note"]


def select_for_review(records: list[dict], probs, limit: int) -> list[dict]:
    """Sentences without gold labels, ranked: model and weak labeler disagree first,
    then lowest model confidence."""
    rows = []
    for r, p in zip(records, probs):
        if r.get("label_source") == "gold":
            continue
        suggestion = LABELS[int(p.argmax())]
        confidence = float(p.max())
        disagree = r.get("weak_label") is not None and r["weak_label"] != suggestion
        reason = (f"model says {suggestion}, weak labeler says {r['weak_label']}" if disagree
                  else f"low model confidence ({confidence:.2f})")
        rows.append({"sentence_id": r["sentence_id"], "article_id": r["article_id"], "text": r["text"],
                     "suggestion": suggestion, "confidence": round(confidence, 4),
                     "weak_label": r.get("weak_label") or "", "reason": reason, "label": "", "note": "",
                     "_rank": (not disagree, confidence)})
    rows.sort(key=lambda row: row["_rank"])
    return [{k: v for k, v in row.items() if k != "_rank"} for row in rows[:limit]]


def write_review_csv(path: Path, rows: list[dict]) -> None:
    from pipeline.io import atomic_write

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)


def label_studio_tasks(rows: list[dict]) -> list[dict]:
    """The same rows in Label Studio's JSON import format, the suggestion as a prediction."""
    return [{"data": {"text": r["text"], "sentence_id": r["sentence_id"], "article_id": r["article_id"]},
             "predictions": [{"model_version": "stance", "score": r["confidence"],
                              "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                          "value": {"choices": [r["suggestion"]]}}]}]}
            for r in rows]


def read_review_csv(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"sentence_id", "label"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            return list(reader)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 (save the CSV as UTF-8)") from None


def merge_review(reviewed: Iterable[dict], sentences: dict[str, dict], gold_rows: list[dict],
                 source: str) -> tuple[list[dict], int]:
    """Validate reviewed rows (line numbers as a spreadsheet shows them) and merge the
    labelled ones into the gold rows; a reviewed sentence replaces its old gold row.
    Returns the new gold rows and how many were added or changed."""
    decided, seen = {}, {}
    for line, row in enumerate(reviewed, start=2):  # line 1 is the header
        where = f"{source}:{line}"
        sid, label = (row.get("sentence_id") or "").strip(), (row.get("label") or "").strip().lower()
        if sid in seen:
            raise InputError(f"{where}: duplicate sentence_id {sid!r} (also line {seen[sid]})")
        seen[sid] = line
        if sid not in sentences:
            raise InputError(f"{where}: unknown sentence_id {sid!r} (not in the segmented articles)")
        if not label:
            continue
        if label not in LABELS:
            raise InputError(f"{where}: unknown label {label!r} (expected one of {', '.join(LABELS)})")
        s = sentences[sid]
        decided[sid] = {"sentence_id": sid, "article_id": s["article_id"], "text": s["text"], "label": label,
                        **({"note": row["note"].strip()} if (row.get("note") or "").strip() else {})}
    kept = [g for g in gold_rows if g.get("sentence_id") not in decided]
    return kept + list(decided.values()), len(decided)


def export_for_review(output: Path, limit: int, model_dir: Path, label_studio: Path | None = None) -> str:
    """`stance review export`: the CSV (and Label Studio tasks) of the sentences most worth
    reviewing; InputError when every sentence already has a gold label."""
    from pipeline import paths
    from pipeline.classifier import StanceClassifier
    from pipeline.io import read_jsonl, write_json
    from pipeline.schema import GOLD, with_context

    everything = list(read_jsonl(paths.LABELED))
    records = with_context([r for r in everything if r["label_source"] != GOLD], everything)
    if not records:
        raise InputError(f"{paths.LABELED}: every sentence already has a gold label; add articles to "
                         "seeds/articles/ and run `dvc repro` first")
    probs = StanceClassifier.load(model_dir).predict_proba([r["text"] for r in records],
                                                           contexts=[tuple(r["context"]) for r in records])
    rows = select_for_review(records, probs, limit)
    write_review_csv(output, rows)
    if label_studio:
        write_json(label_studio, label_studio_tasks(rows))
    return (f"review export: {len(rows)} sentences -> {output}; fill the 'label' column, then "
            f"`stance review import {output}`")


def import_review(reviewed: Path, gold_path: Path) -> str:
    """`stance review import`: validate a reviewed CSV and merge it into the gold file."""
    from pipeline import paths
    from pipeline.io import read_jsonl, write_jsonl

    rows = read_review_csv(reviewed)
    sentences = {r["sentence_id"]: r for r in read_jsonl(paths.SENTENCES)}
    gold = list(read_jsonl(gold_path)) if gold_path.exists() else []
    merged, changed = merge_review(rows, sentences, gold, str(reviewed))
    write_jsonl(gold_path, merged)
    return f"review import: {changed} labels merged into {gold_path}; run `dvc repro` to retrain"
