"""Stage `corpus`: check the authored corpus (`corpus.paths`, read by pipeline/authored.py)
and report what it is: metrics/corpus.json.

Checks (the stage fails, naming the file and line or the figure, if one does not hold):
the schema (pipeline/authored.py), at least `corpus.min_sentences` sentences and
`corpus.min_disputes` disputes, and no near-duplicates (word-3-gram Jaccard at least
`corpus.near_duplicate_threshold`, MinHash LSH then checked exactly) inside the corpus or
with the seed sentences. Report: label, dispute, domain and article counts, and sentence
lengths beside the seed articles'.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np

from pipeline import paths
from pipeline.authored import load_authored
from pipeline.config import CorpusConfig, Params
from pipeline.io import InputError, read_jsonl, write_json
from pipeline.labels import LABELS
from pipeline.schema import GOLD

_TOKEN = re.compile(r"\w+")


def run(params: Params, report: Callable[[str], None]) -> str:
    config = params.corpus
    authored = load_authored(config.paths)
    seed_texts = [r["text"] for r in read_jsonl(paths.LABELED) if r["label_source"] == GOLD]
    summary = _report(config, authored, seed_texts)
    write_json(paths.CORPUS_METRICS, summary)
    problems = _problems(config, summary)
    if problems:
        raise InputError(f"{', '.join(map(str, config.paths))}: " + "; ".join(problems))
    return (f"corpus: {summary['sentences']} sentences, {summary['articles']} articles, {summary['disputes']} disputes, "
            f"median {summary['words_per_sentence']['authored']['median']} words, "
            f"{summary['near_duplicates']} near-duplicates")


def _shingles(text: str, n: int = 3) -> set[str]:
    tokens = _TOKEN.findall(text.lower())
    return {" ".join(tokens[i:i + n]) for i in range(max(len(tokens) - n + 1, 1))}


def _near_duplicates(texts: list[str], threshold: float, num_perm: int = 128) -> list[tuple[int, int, float]]:
    """Pairs (i, j, Jaccard) of texts whose word-3-gram Jaccard similarity is at least
    `threshold` (MinHash LSH candidates, checked exactly)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sets = [_shingles(t) for t in texts]
    pairs = []
    for i, s in enumerate(sets):
        mh = MinHash(num_perm=num_perm, seed=1)
        mh.update_batch([sh.encode() for sh in s])
        for j in lsh.query(mh):
            jaccard = len(s & sets[j]) / len(s | sets[j])
            if jaccard >= threshold:
                pairs.append((j, i, round(jaccard, 3)))
        lsh.insert(i, mh)
    return sorted(pairs)


def _lengths(texts: list[str]) -> dict:
    words = np.array([len(t.split()) for t in texts]) if texts else np.zeros(1)
    return {"mean": round(float(words.mean()), 1), "p10": int(np.percentile(words, 10)),
            "median": float(np.median(words)), "p90": int(np.percentile(words, 90)), "max": int(words.max())}


def _report(config: CorpusConfig, authored: list[dict], seed_texts: list[str]) -> dict:
    texts = [r["text"] for r in authored]
    disputes = Counter(r["dispute"] for r in authored)
    # pairs inside the authored corpus or across it and the seeds; a real article that
    # repeats its own standfirst is not the corpus's problem
    duplicates = [p for p in _near_duplicates(texts + seed_texts, config.near_duplicate_threshold) if p[0] < len(texts)]
    everything = texts + seed_texts
    return {
        "sentences": len(authored),
        "articles": len({r["article_id"] for r in authored if r["index"] is not None}),
        "loose_sentences": sum(r["index"] is None for r in authored),
        "disputes": len(disputes),
        "label_counts": {lab: sum(r["label"] == lab for r in authored) for lab in LABELS},
        "domain_counts": dict(sorted(Counter(r["domain"] or "unknown" for r in authored).items())),
        "sentences_per_dispute": {"min": min(disputes.values(), default=0), "max": max(disputes.values(), default=0)},
        "words_per_sentence": {"authored": _lengths(texts), "seeds": _lengths(seed_texts)},
        "near_duplicates": len(duplicates),
        "near_duplicate_pairs": [{"a": everything[i][:80], "b": everything[j][:80], "jaccard": s}
                                 for i, j, s in duplicates[:20]],
    }


def _problems(config: CorpusConfig, summary: dict) -> list[str]:
    """The corpus's requirements, as a list of problems (empty when all hold)."""
    problems = []
    if summary["sentences"] < config.min_sentences:
        problems.append(f"{summary['sentences']} sentences < corpus.min_sentences {config.min_sentences}")
    if summary["disputes"] < config.min_disputes:
        problems.append(f"{summary['disputes']} disputes < corpus.min_disputes {config.min_disputes}")
    if summary["near_duplicates"]:
        problems.append(f"{summary['near_duplicates']} near-duplicate pairs (first: {summary['near_duplicate_pairs'][0]})")
    return problems
