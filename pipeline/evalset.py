"""`stance eval-set`: score any labelled set of sentences with any model, through the one
inference path (StanceClassifier), and report what a user needs to trust or distrust it.

Input: JSONL or CSV, one sentence per row:
    text        str   the sentence (required)
    label       str   accusation | denial | neutral (required)
    id          str   optional; the row number otherwise
    confidence  str   optional; `sure` rows get figures of their own
    domain / group    optional; figures per group
    article     str   optional; rows of one article in reading order give each other
                      context (the previous sentence, the headline) for a model that reads it
Bad input (empty file, malformed line, missing text, unknown label) is an InputError naming
the file and row; nothing is scored then, since a figure over part of a set misleads.

Report: macro-F1 (all rows, sure rows, per group), per-class precision/recall/F1, the
confusion matrix, the expected calibration error, and every error (text, gold, predicted,
probabilities).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io import InputError, atomic_write, numbered_jsonl, write_json
from pipeline.labels import LABELS
from pipeline.metrics import expected_calibration_error, score
from pipeline.schema import with_context


@dataclass(frozen=True)
class EvalRow:
    id: str
    text: str
    label: str
    sure: bool
    group: str | None
    article: str | None


def read_eval_set(path: Path) -> list[EvalRow]:
    """The rows of a labelled JSONL or CSV file; InputError on the first bad row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise InputError(f"{path}: unsupported format {path.suffix!r} (expected .jsonl or .csv)")
    records = list(_csv_records(path) if path.suffix.lower() == ".csv" else numbered_jsonl(path))
    if not records:
        raise InputError(f"{path}: empty file (no labelled rows)")
    return [_row(path, where, record) for where, record in records]


def _csv_records(path: Path):
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 (byte offset {err.start})") from None
    reader = csv.DictReader(raw.splitlines())
    if not reader.fieldnames or "text" not in reader.fieldnames or "label" not in reader.fieldnames:
        raise InputError(f"{path}:1: the header needs 'text' and 'label' columns (has {reader.fieldnames})")
    for record in reader:
        yield reader.line_num, record


def _row(path: Path, where: int, record: dict) -> EvalRow:
    text, label = record.get("text"), record.get("label")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{path}:{where}: missing or empty 'text'")
    if label not in LABELS:
        raise InputError(f"{path}:{where}: unknown label {label!r} (expected one of {', '.join(LABELS)})")
    group = record.get("domain") or record.get("group")
    confidence = record.get("confidence")
    return EvalRow(str(record.get("id") or where), text, label, confidence in (None, "", "sure"),
                   str(group) if group else None, str(record["article"]) if record.get("article") else None)


def contexts_of(rows: list[EvalRow]) -> list[tuple[str, str]]:
    """(headline, previous sentence) of each row, its article's rows taken in file order."""
    records = [{"article_id": r.article, "index": i if r.article else None, "text": r.text} for i, r in enumerate(rows)]
    return [tuple(r["context"]) for r in with_context(records)]


def evaluate_rows(rows: list[EvalRow], probs: np.ndarray) -> tuple[dict, list[dict]]:
    """The report (figures) and the error rows, from each row's class probabilities."""
    predicted = [LABELS[i] for i in probs.argmax(axis=1)]

    def figures(idx: list[int]) -> dict:
        s = score([rows[i].label for i in idx], [predicted[i] for i in idx])
        return {**s, "ece": expected_calibration_error(probs[idx], [rows[i].label for i in idx])}

    everything = list(range(len(rows)))
    sure = [i for i in everything if rows[i].sure]
    groups: dict[str, list[int]] = defaultdict(list)
    for i in everything:
        if rows[i].group:
            groups[rows[i].group].append(i)
    report = {
        "all": figures(everything),
        "sure": figures(sure) if sure else None,
        "groups": {g: {"sentences": len(idx), "macro_f1": score([rows[i].label for i in idx],
                                                                 [predicted[i] for i in idx])["macro_f1"],
                       "sure_sentences": len(s := [i for i in idx if rows[i].sure]),
                       "sure_macro_f1": score([rows[i].label for i in s], [predicted[i] for i in s])["macro_f1"]
                       if s else None}
                   for g, idx in sorted(groups.items())},
    }
    errors = [{"id": rows[i].id, "group": rows[i].group, "sure": rows[i].sure, "gold": rows[i].label,
               "predicted": predicted[i], **{f"p_{lab}": round(float(p), 4) for lab, p in zip(LABELS, probs[i])},
               "text": rows[i].text}
              for i in everything if predicted[i] != rows[i].label]
    return report, errors


def run(path: Path, classifier, output: Path | None = None, errors_path: Path | None = None,
        log_for_model: Path | None = None, prefix: str = "evalset", batch_size: int | None = None) -> str:
    """Score the labelled set at `path` with `classifier`; write the report (JSON) and the
    errors (CSV) where asked; with `log_for_model` (the model's folder), log the figures to
    the MLflow run that trained it; return the summary as text."""
    report, errors = score_file(path, classifier, batch_size)
    if output:
        write_json(output, {**report, "errors": errors})
    if errors_path:
        _write_errors(errors_path, errors)
    summary = summary_text(report, len(errors))
    if log_for_model:
        summary += "\n" + _log(report, log_for_model, prefix, output, errors_path)
    return summary


def score_file(path: Path, classifier, batch_size: int | None = None) -> tuple[dict, list[dict]]:
    """(report, error rows) of `classifier` on the labelled set at `path`."""
    rows = read_eval_set(path)
    probs = classifier.predict_proba([r.text for r in rows], batch_size, contexts=contexts_of(rows))
    report, errors = evaluate_rows(rows, probs)
    return {"source": str(path), **report}, errors


def summary_text(report: dict, n_errors: int) -> str:
    def line(name: str, figures: dict | None) -> str:
        if not figures:
            return f"{name:<14} -"
        per_class = ", ".join(f"{lab} {figures['per_class'][lab]['f1']:.3f}" for lab in LABELS)
        return (f"{name:<14} n={figures['sentences']:<5} macro-F1 {figures['macro_f1']:.3f}  "
                f"accuracy {figures['accuracy']:.3f}  ECE {figures['ece']:.3f}  F1: {per_class}")

    out = [f"{report['source']}", line("all", report["all"]), line("sure", report["sure"])]
    if report["groups"]:
        out.append("per group (sure rows): " + ", ".join(
            f"{g} {v['sure_macro_f1']:.3f} (n={v['sure_sentences']})" if v["sure_macro_f1"] is not None else f"{g} -"
            for g, v in report["groups"].items()))
    matrix = report["all"]["confusion"]
    out.append("confusion (rows gold, columns predicted: " + ", ".join(LABELS) + "): "
               + "; ".join(" ".join(f"{n:>4}" for n in row) for row in matrix))
    out.append(f"{n_errors} errors")
    return "\n".join(out)


def _write_errors(path: Path, errors: list[dict]) -> None:
    columns = ["id", "group", "sure", "gold", "predicted", *(f"p_{lab}" for lab in LABELS), "text"]

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(errors)

    atomic_write(path, write)


def _log(report: dict, model_dir: Path, prefix: str, *files: Path | None) -> str:
    import mlflow

    from pipeline import tracking

    tracking.setup_mlflow_store()
    model_md5 = tracking.folder_md5(model_dir)
    run_id = tracking.run_with_tag("model_md5", model_md5, all_experiments=True)
    if run_id is None:
        raise InputError(f"{model_dir}: no MLflow run in {tracking.tracking_uri()} trained this model (model_md5 {model_md5})")
    figures = {"all.macro_f1": report["all"]["macro_f1"], "all.ece": report["all"]["ece"]}
    if report["sure"]:
        figures.update({"sure.macro_f1": report["sure"]["macro_f1"], "sure.ece": report["sure"]["ece"]})
    figures.update({f"group.{g}.sure_macro_f1": v["sure_macro_f1"] for g, v in report["groups"].items()
                    if v["sure_macro_f1"] is not None})
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"{prefix}.{k}": v for k, v in figures.items()})
        for f in files:
            if f:
                mlflow.log_artifact(str(f), artifact_path=prefix)
    return f"logged to MLflow run {run_id} as {prefix}.*"
