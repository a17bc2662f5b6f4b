"""Sentence splitting, pysbd against pipeline/splitter.py (issue 19): boundary agreement with
hand-split text, speed on one core, and whether the seed articles' segmentation changes.

    taskset -c 0 python bench/splitter_bench.py            # the table; JSON to bench/results/
    python bench/splitter_bench.py --seconds 1             # quicker, noisier speed figures

A boundary is the character offset where one sentence ends and the next starts, taken as
the offset of the next sentence's first character. Segmentation cuts articles into lines
before any splitter runs, so a line break is a boundary for both splitters alike: only
boundaries inside a line are scored (what a splitter decides). Precision, recall and F1 over
all such boundaries of a set:

(a) seed: the five articles of seeds/articles/*.txt against the hand-labelled sentences of
    seeds/gold_labels.jsonl (one row per sentence, per article). Each gold sentence is found in
    its article in order (quotes made one kind, whitespace runs made one space); the gold
    boundaries are where a gold sentence starts after, or ends before, other text of its line
    (a photo credit the segmenter drops after a caption counts: the caption ended there). Only
    lines holding a gold sentence are scored: boilerplate lines are dropped before splitting.
    These sentences were cut by pysbd and then hand-labelled, so pysbd agrees by construction;
    the point is that the new splitter keeps them.
(b) authored: the 438 articles of seeds/authored_articles.jsonl (article_id, index, text: the
    sentences in order), each built as a news page shows it: the headline (index 0) on a line
    of its own, a blank line, then every other sentence joined by one space into one
    paragraph, so that every body boundary is the splitter's to find. About 180 body sentences
    (mostly the standfirst, index 1) have no final full stop: no splitter can find the
    boundary after them, so the table also scores the subset of boundaries that follow
    terminal punctuation (. ! ? … with any closing quotes or brackets); there, a predicted
    boundary at an excluded gold boundary is left out as well.
(c) devset, only where ../shared/devset/devset.jsonl exists (real news, not in the repo: only
    figures are printed): the sentences of each article joined by one space, as in (b).

Speed: sentences per second of each splitter alone, in this process (one core; pin it with
taskset on a shared machine): every line of the seed articles and both pages of every
authored article, split over and over for --seconds, best of --repeats.

Segmentation check: `segment_text` of every seed article with each splitter (the same line
handling, boilerplate and short-fragment filters); the sentence records must be identical, or
the training data changes (data/sentences.jsonl, and through it the gold matching). The same
is reported for the authored pages, where only the figures matter.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import segmentation  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.splitter import split as new_split  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEVSET = ROOT.parent / "shared" / "devset" / "devset.jsonl"
_TERMINAL = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_QUOTE_CHARS = "\u2018\u2019\u201a\u201b\u2032`\u00b4\u201c\u201d\u201e\u201f\u2033\""


def pysbd_split():
    """pysbd as stance used it before issue 19 (pipeline/segmentation.py's _split_line)."""
    import pysbd

    if getattr(re, "_MAXCACHE", 4096) < 4096:  # as before: pysbd's ~700 regexes fit re's cache
        re._MAXCACHE = 4096
    segmenter = pysbd.Segmenter(language="en", clean=False)

    def split(line: str) -> list[tuple[int, str]]:
        out, cursor = [], 0
        for piece in segmenter.segment(line):
            piece = piece.strip()
            if not piece:
                continue
            at = line.find(piece, cursor)
            if at < 0:
                return [(0, line)]
            cursor = at + len(piece)
            out.append((at, piece))
        return out

    return split


# --- the sets ----------------------------------------------------------------------------
class Article:
    def __init__(self, article_id: str, text: str, gold: list[tuple[int, int]], terminal: set[int] | None = None):
        self.article_id, self.text = article_id, text
        self.gold_spans = gold  # (start, end) of each hand-split sentence in `text`
        self.findable = terminal  # gold boundaries after terminal punctuation (None: all)


def _normalised(text: str) -> tuple[str, list[int]]:
    """text with one kind of quote and single spaces, and the offset in `text` of each char."""
    table = str.maketrans({c: "'" for c in _QUOTE_CHARS})
    out, where = [], []
    for i, ch in enumerate(text.translate(table)):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        where.append(i)
    return "".join(out), where


def locate(text: str, sentences: list[str]) -> tuple[list[tuple[int, int]], int]:
    """(start, end) in `text` of each sentence, found in order; and how many were not found."""
    norm, where = _normalised(text)
    spans, missing, cursor = [], 0, 0
    for sentence in sentences:
        needle = _normalised(sentence.strip())[0]
        at = norm.find(needle, cursor)
        if at < 0:
            at = norm.find(needle)
        if at < 0 or not needle:
            missing += 1
            continue
        cursor = at + len(needle)
        spans.append((where[at], where[cursor - 1] + 1))
    return spans, missing


def seed_articles() -> tuple[list[Article], int]:
    gold = collections.defaultdict(list)
    for line in open(ROOT / "seeds" / "gold_labels.jsonl", encoding="utf-8"):
        row = json.loads(line)
        gold[row["article_id"]].append(row["text"])
    articles, missing = [], 0
    for path in sorted((ROOT / "seeds" / "articles").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        spans, lost = locate(text, gold[path.stem])
        missing += lost
        articles.append(Article(path.stem, text, spans))
    return articles, missing


def joined_articles(groups: dict[str, list[str]], headline: bool) -> list[Article]:
    """One page per article: (the headline on its own line, a blank line, then) the sentences
    joined by one space."""
    articles = []
    for article_id, sentences in groups.items():
        sentences = [s.strip() for s in sentences if s.strip()]
        text, spans, terminal = "", [], set()
        if headline and sentences:
            spans.append((0, len(sentences[0])))
            text, sentences = sentences[0] + "\n\n", sentences[1:]
        for i, sentence in enumerate(sentences):
            text += " " if i else ""
            spans.append((len(text), len(text) + len(sentence)))
            text += sentence
        for (s1, e1), (s2, _) in zip(spans, spans[1:]):
            if _TERMINAL.search(text[s1:e1]):
                terminal.add(s2)
        articles.append(Article(article_id, text, spans, terminal))
    return articles


def authored_articles() -> list[Article]:
    groups = collections.defaultdict(list)
    rows = [json.loads(line) for line in open(ROOT / "seeds" / "authored_articles.jsonl", encoding="utf-8")]
    for row in sorted(rows, key=lambda r: (r["article_id"], r["index"])):
        groups[row["article_id"]].append(row["text"])
    return joined_articles(groups, headline=True)


def devset_articles() -> list[Article]:
    groups = collections.defaultdict(list)
    for line in open(DEVSET, encoding="utf-8"):
        row = json.loads(line)
        groups[row["article"]].append(row["text"])
    return joined_articles(groups, headline=False)


# --- scoring -----------------------------------------------------------------------------
def _line_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of each stripped non-blank line."""
    return [(at, at + len(line)) for at, line in segmentation._lines(text)]


def gold_boundaries(article: Article) -> tuple[set[int], list[tuple[int, int]]]:
    """Intra-line gold boundaries, and the lines that hold a gold sentence."""
    lines = _line_bounds(article.text)
    text, boundaries, scored = article.text, set(), set()
    for start, end in article.gold_spans:
        line = next((ln for ln in lines if ln[0] <= start < ln[1]), None)
        if line is None:
            continue
        scored.add(line)
        if start > line[0]:
            boundaries.add(start)
        rest = end
        while rest < line[1] and text[rest].isspace():
            rest += 1
        if rest < line[1]:
            boundaries.add(rest)
    return boundaries, sorted(scored)


def predicted_boundaries(article: Article, lines: list[tuple[int, int]], split) -> set[int]:
    out = set()
    for start, end in lines:
        out.update(start + at for at, _ in split(article.text[start:end])[1:])
    return out


def agreement(articles: list[Article], split) -> dict:
    counts = {"all": [0, 0, 0], "after_terminal": [0, 0, 0]}  # tp, fp, fn
    for article in articles:
        gold, lines = gold_boundaries(article)
        pred = predicted_boundaries(article, lines, split)
        for name, g, p in (("all", gold, pred), ("after_terminal", *_findable(article, gold, pred))):
            counts[name][0] += len(g & p)
            counts[name][1] += len(p - g)
            counts[name][2] += len(g - p)
    return {name: _prf(*c) for name, c in counts.items()}


def _findable(article: Article, gold: set[int], pred: set[int]) -> tuple[set[int], set[int]]:
    if article.findable is None:
        return gold, pred
    unfindable = gold - article.findable
    return gold - unfindable, pred - unfindable


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "boundaries": tp + fn, "tp": tp, "fp": fp, "fn": fn}


# --- speed -------------------------------------------------------------------------------
def speed(lines: list[str], split, seconds: float, repeats: int) -> float:
    """Sentences per second, best of `repeats` runs of at least `seconds` each."""
    best = 0.0
    for _ in range(repeats):
        sentences, started, elapsed = 0, time.perf_counter(), 0.0
        while elapsed < seconds:
            for line in lines:
                sentences += len(split(line))
            elapsed = time.perf_counter() - started
        best = max(best, sentences / elapsed)
    return best


# --- segmentation check --------------------------------------------------------------------
def segment_with(split, articles: list[Article], boilerplate, min_words: int):
    saved = segmentation.split
    segmentation.split = split
    try:
        return {a.article_id: segmentation.segment_text(a.article_id, a.text, boilerplate, min_words) for a in articles}
    finally:
        segmentation.split = saved


def segmentation_diff(old: dict, new: dict) -> dict:
    changed, only_old, only_new = [], 0, 0
    for article_id, before in old.items():
        after = new[article_id]
        if before != after:
            a, b = {s.text for s in before}, {s.text for s in after}
            only_old += len(a - b)
            only_new += len(b - a)
            changed.append({"article_id": article_id, "pysbd_only": sorted(a - b), "new_only": sorted(b - a)})
    return {"articles": len(old), "sentences_pysbd": sum(map(len, old.values())),
            "sentences_new": sum(map(len, new.values())), "identical": not changed,
            "articles_changed": len(changed), "sentences_only_pysbd": only_old, "sentences_only_new": only_new,
            "changes": changed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each speed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "splitter.json")
    args = parser.parse_args()

    splitters = {"pysbd": pysbd_split(), "new": new_split}
    seed, missing = seed_articles()
    sets = {"seed": seed, "authored": authored_articles()}
    if DEVSET.exists():
        sets["devset"] = devset_articles()
    results: dict = {"gold_sentences_not_found": missing, "agreement": {}, "speed": {}}
    for set_name, articles in sets.items():
        for name, split in splitters.items():
            results["agreement"][f"{set_name}/{name}"] = agreement(articles, split)

    lines = [line for a in seed + sets["authored"] for _, line in segmentation._lines(a.text)]
    for name, split in splitters.items():
        results["speed"][name] = round(speed(lines, split, args.seconds, args.repeats))
    results["speed_lines"] = len(lines)

    segment = load_params(ROOT / "configs" / "params.yaml").segment
    boilerplate = segmentation.load_boilerplate(ROOT / segment.boilerplate_path)
    min_words = segment.min_words
    for set_name in ("seed", "authored"):
        old = segment_with(splitters["pysbd"], sets[set_name], boilerplate, min_words)
        new = segment_with(new_split, sets[set_name], boilerplate, min_words)
        results[f"segment_text_{set_name}"] = segmentation_diff(old, new)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print_table(results)
    print(f"-> {args.out}")


def print_table(results: dict) -> None:
    print(f"gold sentences not found in the seed articles: {results['gold_sentences_not_found']}")
    print("| set | boundaries | splitter | precision | recall | F1 | fp | fn |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, scores in results["agreement"].items():
        set_name, splitter = key.split("/")
        for subset, s in scores.items():
            if subset == "after_terminal" and set_name == "seed":
                continue
            label = "all inside lines" if subset == "all" else "after terminal punctuation"
            print(f"| {set_name} | {label} ({s['boundaries']}) | {splitter} | {s['precision']:.4f} | "
                  f"{s['recall']:.4f} | {s['f1']:.4f} | {s['fp']} | {s['fn']} |")
    speeds = results["speed"]
    print(f"speed, one core, {results['speed_lines']} lines: pysbd {speeds['pysbd']:,} sentences/s, "
          f"new {speeds['new']:,} sentences/s ({speeds['new'] / speeds['pysbd']:.0f}x)")
    for set_name in ("seed", "authored"):
        d = results[f"segment_text_{set_name}"]
        print(f"segment_text, {set_name} ({d['articles']} articles): pysbd {d['sentences_pysbd']} sentences, new "
              f"{d['sentences_new']}; identical: {d['identical']} ({d['articles_changed']} articles changed, "
              f"{d['sentences_only_pysbd']} sentences only in pysbd's, {d['sentences_only_new']} only in the new)")


if __name__ == "__main__":
    main()
