"""Gold labels: the hand-labelled sentences in seeds/gold_labels.jsonl.

Row schema (one JSON object per line):
    text        str  required: the sentence, as segmented
    label       str  required: accusation | denial | neutral
    article_id  str  optional: restricts the match to that article
    sentence_id str  optional: informational; matching is by text, never by position
    note        str  optional: why the label, for reviewers

Rows match sentences by normalised text (pipeline.segment.normalise), within
`article_id` when it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.io import InputError, read_jsonl
from pipeline.labels import LABELS
from pipeline.segmentation import Sentence, normalise


@dataclass(frozen=True)
class GoldLabel:
    text: str
    label: str
    article_id: str | None = None
    note: str | None = None
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return self.article_id, normalise(self.text)


def parse_gold(rows: Iterable[dict], source: str) -> list[GoldLabel]:
    """Validate gold rows; raise InputError (one line: file, row, problem) on the first bad one."""
    gold, seen = [], {}
    for line, row in enumerate(rows, start=1):
        where = f"{source}:{line}"
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: missing or empty 'text'")
        if label not in LABELS:
            raise InputError(f"{where}: unknown label {label!r} (expected one of {', '.join(LABELS)})")
        item = GoldLabel(text=text, label=label, article_id=row.get("article_id"), note=row.get("note"), line=line)
        if item.key in seen:
            raise InputError(f"{where}: duplicate sentence (same text as line {seen[item.key]})")
        seen[item.key] = line
        gold.append(item)
    return gold


def load_gold(path: Path) -> list[GoldLabel]:
    if not Path(path).exists():
        return []
    return parse_gold(read_jsonl(path), str(path))


def match_gold(gold: list[GoldLabel], sentences: list[Sentence], source: str) -> dict[str, GoldLabel]:
    """sentence_id -> gold label. A gold row that matches no sentence is an error, so a
    re-segmented or removed article can never drop its labels silently."""
    by_key = {(g.article_id, normalise(g.text)): g for g in gold}
    matched: dict[str, GoldLabel] = {}
    used: set[int] = set()
    for s in sentences:
        norm = normalise(s.text)
        g = by_key.get((s.article_id, norm)) or by_key.get((None, norm))
        if g is not None:
            matched[s.sentence_id] = g
            used.add(g.line)
    unmatched = [g for g in gold if g.line not in used]
    if unmatched:
        first = unmatched[0]
        raise InputError(
            f"{source}:{first.line}: gold row matches no segmented sentence "
            f"({len(unmatched)} such rows; first: {first.text[:60]!r})"
        )
    return matched
