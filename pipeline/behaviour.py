"""Behavioural checks of a model (the "invariance" and "directional" tests of Ribeiro et al.,
CheckList): sentences filled from the templates of configs/behaviour.yaml with several pairs
of invented parties.

    name_invariance      share of templates (all three kinds) whose label is the same for
                         every pair of parties
    invariance_accuracy  share of filled invariance sentences given the template's label
    denial_direction     share of filled direction pairs where the report reads as accusation
                         and the same allegation, denied by the accused, as denial

The evaluate stage reports these for the shipped model; tests/model/test_behaviour.py holds
them to thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.config import ConfigError

Predict = Callable[[list[str]], list[str]]  # sentences -> labels


def load_cases(path: Path) -> dict:
    try:
        cases = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (evaluate.behaviour_path)") from None
    for key in ("parties", "invariance", "direction"):
        if not (cases or {}).get(key):
            raise ConfigError(f"{path}: '{key}' is missing or empty")
    return cases


def _fill(template: str, parties: list[dict]) -> list[str]:
    filled = (template.format(**p) for p in parties)
    return [s[:1].upper() + s[1:] for s in filled]  # "the ..." opening a sentence


def check(predict: Predict, cases: dict) -> dict:
    parties = cases["parties"]
    filled = [_fill(t["text"], parties) for t in cases["invariance"]]
    reports = [_fill(d["report"], parties) for d in cases["direction"]]
    denied = [_fill(d["denied"], parties) for d in cases["direction"]]
    groups = filled + reports + denied
    labels = iter(predict([s for group in groups for s in group]))  # one call: one batch pass
    by_group = [[next(labels) for _ in group] for group in groups]
    invariance = by_group[:len(filled)]
    report_labels, denied_labels = by_group[len(filled):len(filled) + len(reports)], by_group[len(filled) + len(reports):]
    expected = [t["label"] for t in cases["invariance"]]
    failures = [{"template": t["text"], "expected": e, "predicted": sorted(set(got))}
                for t, e, got in zip(cases["invariance"], expected, invariance) if set(got) != {e}]
    pairs = [(r, d) for rs, ds in zip(report_labels, denied_labels) for r, d in zip(rs, ds)]
    return {
        "name_invariance": round(sum(len(set(got)) == 1 for got in by_group) / len(by_group), 4),
        "invariance_accuracy": round(sum(g == e for e, got in zip(expected, invariance) for g in got)
                                     / sum(map(len, invariance)), 4),
        "denial_direction": round(sum(r == "accusation" and d == "denial" for r, d in pairs) / len(pairs), 4),
        "sentences": sum(map(len, groups)),
        "failures": failures + [{"template": c["report"], "expected": "accusation -> denial",
                                 "predicted": sorted({f"{r} -> {d}" for r, d in zip(rs, ds)})}
                                for c, rs, ds in zip(cases["direction"], report_labels, denied_labels)
                                if any(r != "accusation" or d != "denial" for r, d in zip(rs, ds))],
    }
