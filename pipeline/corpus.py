"""The authored training corpus (seeds/authored_corpus.jsonl): sentences written for this
project in wire-news style across many disputes. Not published news: it is never
reported as real-news performance (see docs/authored_corpus.md).

Row schema: id (str, unique), text (str, unique), label (accusation|denial|neutral),
dispute (str: the dispute it belongs to), note (optional str).

Stage `corpus` validates it and reports its diversity: label and dispute counts,
sentence lengths beside the seed sentences', and near-duplicates (MinHash over word
3-grams), which must be none.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.config import CorpusConfig
from pipeline.io import InputError, read_jsonl
from pipeline.labels import LABELS
from pipeline.segment import normalise

_TOKEN = re.compile(r"\w+")


def parse_authored(rows, source: str) -> list[dict]:
    """Validated corpus rows; InputError (file:line: problem) on the first bad one."""
    out, ids, texts = [], {}, {}
    for line, row in enumerate(rows, start=1):
        where = f"{source}:{line}"
        for key in ("id", "text", "dispute"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise InputError(f"{where}: missing or empty '{key}'")
        if row.get("label") not in LABELS:
            raise InputError(f"{where}: unknown label {row.get('label')!r} (expected one of {', '.join(LABELS)})")
        if row["id"] in ids:
            raise InputError(f"{where}: duplicate id {row['id']!r} (also line {ids[row['id']]})")
        key = normalise(row["text"])
        if key in texts:
            raise InputError(f"{where}: duplicate text (same as line {texts[key]})")
        ids[row["id"]], texts[key] = line, line
        out.append({"sentence_id": f"authored:{row['id']}", "article_id": f"authored:{row['dispute']}",
                    "text": row["text"], "label": row["label"], "dispute": row["dispute"],
                    "label_source": "authored"})
    return out


def load_authored(path: Path) -> list[dict]:
    return parse_authored(read_jsonl(path), str(path))


def shingles(text: str, n: int = 3) -> set[str]:
    tokens = _TOKEN.findall(text.lower())
    return {" ".join(tokens[i:i + n]) for i in range(max(len(tokens) - n + 1, 1))}


def near_duplicates(texts: list[str], threshold: float, num_perm: int = 128) -> list[tuple[int, int, float]]:
    """Pairs of texts whose word-3-gram Jaccard similarity (MinHash LSH estimate, then
    checked exactly) is at least `threshold`."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sets = [shingles(t) for t in texts]
    pairs = []
    for i, s in enumerate(sets):
        mh = MinHash(num_perm=num_perm, seed=1)
        for sh in s:
            mh.update(sh.encode())
        for j in lsh.query(mh):
            jaccard = len(s & sets[j]) / len(s | sets[j])
            if jaccard >= threshold:
                pairs.append((j, i, round(jaccard, 3)))
        lsh.insert(i, mh)
    return sorted(pairs)


def length_stats(texts: list[str]) -> dict:
    words = np.array([len(t.split()) for t in texts]) if texts else np.zeros(1)
    return {"mean": round(float(words.mean()), 1), "p10": int(np.percentile(words, 10)),
            "median": int(np.median(words)), "p90": int(np.percentile(words, 90)), "max": int(words.max())}


def diversity_report(config: CorpusConfig, authored: list[dict], seed_texts: list[str]) -> dict:
    texts = [r["text"] for r in authored]
    disputes = Counter(r["dispute"] for r in authored)
    # pairs inside the authored corpus or across it and the seeds; a real article that
    # repeats its own standfirst is not the corpus's problem
    duplicates = [p for p in near_duplicates(texts + seed_texts, config.near_duplicate_threshold)
                  if p[0] < len(texts)]
    return {
        "sentences": len(authored),
        "disputes": len(disputes),
        "label_counts": {lab: sum(r["label"] == lab for r in authored) for lab in LABELS},
        "sentences_per_dispute": {"min": min(disputes.values(), default=0), "max": max(disputes.values(), default=0)},
        "words_per_sentence": {"authored": length_stats(texts), "seeds": length_stats(seed_texts)},
        "near_duplicates": len(duplicates),
        "near_duplicate_pairs": [
            {"a": (texts + seed_texts)[i][:80], "b": (texts + seed_texts)[j][:80], "jaccard": s}
            for i, j, s in duplicates[:20]],
    }


def check_diversity(config: CorpusConfig, report: dict) -> list[str]:
    """The corpus's requirements, as a list of problems (empty when all hold)."""
    problems = []
    if report["sentences"] < config.min_sentences:
        problems.append(f"{report['sentences']} sentences < corpus.min_sentences {config.min_sentences}")
    if report["disputes"] < config.min_disputes:
        problems.append(f"{report['disputes']} disputes < corpus.min_disputes {config.min_disputes}")
    if report["near_duplicates"]:
        problems.append(f"{report['near_duplicates']} near-duplicate pairs (first: {report['near_duplicate_pairs'][0]})")
    return problems
