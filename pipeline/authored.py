"""The authored training corpus: text written for this project about invented disputes, in
the style of news copy. Never published news, so never reported as real-news performance.

Files (`corpus.paths`), JSON Lines, one sentence per row:
    text      str  the sentence (required, unique across the corpus)
    label     str  accusation | denial | neutral (required)
    dispute   str  the invented dispute it belongs to (required)
    article_id, index   the article it belongs to and its position (0 = headline): articles
                   are written whole, so every sentence has its context
    id        str  for a loose sentence (no article): a unique id
    domain, register, note   optional: company | state | military | sport | public-figure |
                   institution; wire | newspaper | ...; why a close call went the way it did
"""

from __future__ import annotations

from pathlib import Path

from pipeline.io import InputError, read_jsonl
from pipeline.labels import LABELS
from pipeline.schema import AUTHORED, with_context
from pipeline.segmentation import normalise


def parse_authored(rows, source: str, seen_texts: dict | None = None) -> list[dict]:
    """Validated corpus rows as training records; InputError (file:line: problem) on the first bad one."""
    out, ids = [], {}
    texts = {} if seen_texts is None else seen_texts
    for line, row in enumerate(rows, start=1):
        where = f"{source}:{line}"
        for key in ("text", "dispute"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise InputError(f"{where}: missing or empty '{key}'")
        if row.get("label") not in LABELS:
            raise InputError(f"{where}: unknown label {row.get('label')!r} (expected one of {', '.join(LABELS)})")
        in_article = row.get("article_id") is not None
        if in_article and not (isinstance(row.get("index"), int) and row["index"] >= 0):
            raise InputError(f"{where}: 'index' must be a whole number >= 0 beside 'article_id'")
        if not in_article and not (isinstance(row.get("id"), str) and row["id"].strip()):
            raise InputError(f"{where}: needs 'article_id' and 'index', or an 'id'")
        key_id = f"{row['article_id']}:{row['index']}" if in_article else row["id"]
        if key_id in ids:
            raise InputError(f"{where}: duplicate id {key_id!r} (also line {ids[key_id]})")
        key = normalise(row["text"])
        if key in texts:
            raise InputError(f"{where}: duplicate text (same as {texts[key]})")
        ids[key_id], texts[key] = line, where
        out.append({"sentence_id": f"authored:{key_id}",
                    "article_id": f"authored:{row['article_id'] if in_article else row['dispute']}",
                    "index": row["index"] if in_article else None, "text": row["text"], "label": row["label"],
                    "dispute": row["dispute"], "domain": row.get("domain"), "label_source": AUTHORED})
    return out


def load_authored(paths: list[Path]) -> list[dict]:
    """Every corpus file's records, each with its context ([headline, previous sentence])."""
    seen: dict = {}
    records = [r for path in paths for r in parse_authored(read_jsonl(path), str(path), seen)]
    return with_context(records)
