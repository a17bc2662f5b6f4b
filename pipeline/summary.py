"""`stance metrics`: the headline figures of every metrics file, one row each, in a table
that fits a terminal (`dvc metrics show` puts every key of every file side by side)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import paths

# (file, label, key path); a missing file or key is shown as "-"
ROWS = [
    (paths.EVALUATE_METRICS, "test article: model macro-F1", "test.model.macro_f1"),
    (paths.EVALUATE_METRICS, "test article: tfidf_lr macro-F1", "test.tfidf_lr.macro_f1"),
    (paths.EVALUATE_METRICS, "test article: weak labeler macro-F1", "test.weak.macro_f1"),
    (paths.EVALUATE_METRICS, "test article: sentences", "test_sentences"),
    (paths.EVALUATE_METRICS, "test article: expected calibration error", "test_ece"),
    (paths.EVALUATE_METRICS, "name-swap consistency", "name_swap.consistency"),
    (paths.EVALUATE_METRICS, "behaviour: name invariance (templates)", "behaviour.name_invariance"),
    (paths.EVALUATE_METRICS, "behaviour: direction of a denial", "behaviour.denial_direction"),
    (paths.CORPUS_METRICS, "authored corpus: sentences", "sentences"),
    (paths.CORPUS_METRICS, "authored corpus: articles", "articles"),
    (paths.CORPUS_METRICS, "authored corpus: disputes", "disputes"),
    (paths.CORPUS_METRICS, "authored corpus: median words", "words_per_sentence.authored.median"),
    (paths.CORPUS_METRICS, "authored corpus: near-duplicates", "near_duplicates"),
    (paths.LABEL_METRICS, "seed sentences", "sentences"),
    (paths.LABEL_METRICS, "weak labeler on gold: accuracy", "weak_vs_gold.accuracy"),
    (paths.CROSSVAL_METRICS, "crossval: shipped, pooled macro-F1 (mean over seeds)", "shipped.macro_f1_pooled_mean"),
    (paths.CROSSVAL_METRICS, "crossval: seed-only, pooled macro-F1", "seed_only.macro_f1_pooled_mean"),
    (paths.CROSSVAL_METRICS, "crossval: shipped minus seed-only", "shipped_minus_seed_only.macro_f1_pooled"),
    (paths.GENERALIZATION_METRICS, "authored-only model on the seed gold", "seed_gold.model.macro_f1"),
    (paths.GENERALIZATION_METRICS, "leave-disputes-out: model", "leave_disputes_out.model.macro_f1_mean"),
]


def lookup(data: dict, key: str):
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def rows(root: Path = Path(".")) -> list[tuple[str, str, str]]:
    """(figure, value, file) for every row of ROWS."""
    cache: dict[Path, dict] = {}
    out = []
    for path, label, key in ROWS:
        if path not in cache:
            file = root / path
            cache[path] = json.loads(file.read_text()) if file.exists() else {}
        value = lookup(cache[path], key)
        shown = "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        out.append((label, shown, str(path)))
    return out


def print_table(root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", "file", box=None)
    for row in rows(root):
        table.add_row(*row)
    Console().print(table)
