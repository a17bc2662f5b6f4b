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

from pipeline.io import InputError, atomic_write
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
                 source: str, first_line: int = 2) -> tuple[list[dict], int, int]:
    """Validate reviewed rows (numbered as a spreadsheet shows them: line 1 is the header) and
    merge the labelled ones into the gold rows; a reviewed sentence replaces its old gold row.
    Every bad row is reported, one line each, in one InputError; nothing is merged then.
    Returns the new gold rows, how many labels were added or changed, and how many were
    already in the gold file as given (a file imported twice changes nothing)."""
    decided, seen, problems = {}, {}, []
    for line, row in enumerate(reviewed, start=first_line):
        where = f"{source}:{line}"
        sid, label = (row.get("sentence_id") or "").strip(), (row.get("label") or "").strip().lower()
        if sid in seen:
            problems.append(f"{where}: duplicate sentence_id {sid!r} (also line {seen[sid]})")
            continue
        seen[sid] = line
        if sid not in sentences:
            problems.append(f"{where}: unknown sentence_id {sid!r} (not in the segmented articles)")
        elif label and label not in LABELS:
            problems.append(f"{where}: unknown label {label!r} (expected one of {', '.join(LABELS)})")
        elif label:
            s = sentences[sid]
            decided[sid] = {"sentence_id": sid, "article_id": s["article_id"], "text": s["text"], "label": label,
                            **({"note": row["note"].strip()} if (row.get("note") or "").strip() else {})}
    if problems:
        raise InputError("\n".join(problems))
    current = {g.get("sentence_id"): g.get("label") for g in gold_rows}
    already = {sid for sid, row in decided.items() if current.get(sid) == row["label"]}
    changed = {sid: row for sid, row in decided.items() if sid not in already}
    kept = [g for g in gold_rows if g.get("sentence_id") not in changed]
    return kept + list(changed.values()), len(changed), len(already)


LABEL_STUDIO_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single" showInline="true">
    <Choice value="accusation"/>
    <Choice value="denial"/>
    <Choice value="neutral"/>
  </Choices>
</View>
"""


def read_label_studio_export(path: Path) -> list[dict]:
    """Rows (sentence_id, label) of a Label Studio JSON export of tasks made by `review export
    --label-studio`: each task's latest annotation's choice; tasks without one are left out."""
    import json

    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a Label Studio JSON export ({type(err).__name__})") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: not a Label Studio JSON export (expected a list of tasks)")
    rows = []
    for task in tasks:
        data = task.get("data", {}) if isinstance(task, dict) else {}
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")] if data else []
        choices = [r.get("value", {}).get("choices", []) for a in annotations[-1:] for r in a.get("result", [])
                   if r.get("from_name") == "label"]
        rows.append({"sentence_id": data.get("sentence_id", ""), "label": choices[0][0] if choices and choices[0] else ""})
    return rows


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
        raise InputError(f"{paths.LABELED}: every sentence already has a gold label, so there is nothing to review "
                         "(a fresh clone has only the labelled seed articles): add .txt or .html articles to "
                         "seeds/articles/, run `dvc repro`, then export again")
    probs = StanceClassifier.load(model_dir).predict_proba([r["text"] for r in records],
                                                           contexts=[tuple(r["context"]) for r in records])
    rows = select_for_review(records, probs, limit)
    write_review_csv(output, rows)
    written = str(output)
    if label_studio:
        write_json(label_studio, label_studio_tasks(rows))
        config = Path(label_studio).with_name(Path(label_studio).stem + ".label_config.xml")
        atomic_write(config, lambda handle: handle.write(LABEL_STUDIO_CONFIG))
        written += f", {label_studio} (labelling config: {config})"
    return (f"review export: {len(rows)} sentences -> {written}; fill the 'label' column (or label the tasks in "
            f"Label Studio and export them as JSON), then `stance review import <file>`")


def import_review(reviewed: Path, gold_path: Path) -> str:
    """`stance review import`: validate a reviewed CSV (or a Label Studio JSON export) and
    merge it into the gold file."""
    from pipeline import paths
    from pipeline.io import read_jsonl, write_jsonl

    is_json = Path(reviewed).suffix.lower() == ".json"
    rows = read_label_studio_export(reviewed) if is_json else read_review_csv(reviewed)
    sentences = {r["sentence_id"]: r for r in read_jsonl(paths.SENTENCES)}
    gold = list(read_jsonl(gold_path)) if gold_path.exists() else []
    # a JSON export's "lines" are its tasks, numbered from 1; a CSV's line 1 is its header
    merged, changed, already = merge_review(rows, sentences, gold, str(reviewed), first_line=1 if is_json else 2)
    if not changed:
        return f"review import: nothing new ({already} labels already merged into {gold_path})"
    write_jsonl(gold_path, merged)
    also = f" ({already} already merged)" if already else ""
    return f"review import: {changed} labels merged into {gold_path}{also}; run `dvc repro` to retrain"
