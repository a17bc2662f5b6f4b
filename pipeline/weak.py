"""The weak labeler: target-free labeling functions (configs/labeling_functions.yaml)
whose votes a Snorkel LabelModel weighs into one label, or an abstention."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pipeline.config import ConfigError, LabelModelConfig
from pipeline.labels import ABSTAIN, ID2LABEL, LABEL2ID, LABELS


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str
    patterns: list[str]
    unless: list[str] = []

    @field_validator("label")
    @classmethod
    def _known_label(cls, v: str) -> str:
        if v not in LABELS:
            raise ValueError(f"unknown label {v!r} (expected one of {', '.join(LABELS)})")
        return v


@dataclass(frozen=True)
class LabelingFunction:
    name: str
    label: str
    patterns: tuple[re.Pattern, ...]
    unless: tuple[re.Pattern, ...] = ()

    def __call__(self, text: str) -> int:
        if any(p.search(text) for p in self.patterns) and not any(p.search(text) for p in self.unless):
            return LABEL2ID[self.label]
        return ABSTAIN


def parse_rules(raw: object, source: str) -> list[LabelingFunction]:
    items = raw.get("labeling_functions") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: expected a non-empty 'labeling_functions' list")
    rules, names = [], set()
    for i, item in enumerate(items):
        try:
            spec = _RuleSpec.model_validate(item)
        except ValidationError as err:
            e = err.errors()[0]
            key = ".".join(str(p) for p in e["loc"])
            raise ConfigError(f"{source}: labeling_functions[{i}].{key}: {e['msg']}") from None
        if spec.name in names:
            raise ConfigError(f"{source}: labeling_functions[{i}]: duplicate name {spec.name!r}")
        names.add(spec.name)
        try:
            compiled = [tuple(re.compile(p, re.IGNORECASE) for p in ps) for ps in (spec.patterns, spec.unless)]
        except re.error as err:
            raise ConfigError(f"{source}: {spec.name}: bad regex ({err})") from None
        rules.append(LabelingFunction(spec.name, spec.label, *compiled))
    return rules


def load_rules(path: Path) -> list[LabelingFunction]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    return parse_rules(raw, str(path))


def apply_rules(rules: list[LabelingFunction], texts: list[str]) -> np.ndarray:
    """The (sentences x rules) vote matrix, ABSTAIN where a rule is silent."""
    return np.array([[rule(t) for rule in rules] for t in texts], dtype=int).reshape(len(texts), len(rules))


@dataclass
class WeakLabels:
    votes: np.ndarray  # (n, rules)
    probs: np.ndarray  # (n, classes)
    labels: list[str | None]  # None where the label model abstains


def weak_label(rules: list[LabelingFunction], texts: list[str], config: LabelModelConfig) -> WeakLabels:
    from snorkel.labeling.model import LabelModel  # heavy import, only when labelling

    votes = apply_rules(rules, texts)
    model = LabelModel(cardinality=len(LABELS), verbose=False)
    model.fit(votes, n_epochs=config.epochs, lr=config.learning_rate, seed=config.seed, progress_bar=False)
    probs = model.predict_proba(votes) if len(texts) else np.zeros((0, len(LABELS)))
    labels = []
    for row_votes, row_probs in zip(votes, probs):
        confident = row_probs.max() >= config.min_confidence
        labels.append(ID2LABEL[int(row_probs.argmax())] if (row_votes != ABSTAIN).any() and confident else None)
    return WeakLabels(votes, probs, labels)
