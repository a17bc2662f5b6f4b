"""Segmentation, shared by the `segment` stage and `stance score`: article text -> sentences.

Each article is split into lines; page boilerplate and repeated lines (a headline
printed twice) are dropped; pipeline/splitter.py splits each remaining line into
sentences, and boilerplate sentences (a photo credit after a caption) and fragments too
short to carry a claim are dropped. HTML
pages are reduced to their main text with trafilatura first, and offsets then
point into that extracted text.

Sentence record (data/sentences.jsonl, one JSON object per line):
    sentence_id  str  stable id: hash of article id + normalised text
    article_id   str  the article file's stem
    index        int  0-based position of the sentence in the article
    start, end   int  character offsets into the article text: text == article[start:end]
    text         str  the sentence
    paragraph    int  0-based paragraph (non-blank line) it comes from
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from pipeline.config import ConfigError, SegmentConfig
from pipeline.splitter import split

_QUOTES = str.maketrans({c: "'" for c in "\u2018\u2019\u201a\u201b\u2032`\u00b4\u201c\u201d\u201e\u201f\u2033\""})
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Sentence:
    sentence_id: str
    article_id: str
    index: int
    start: int | None
    end: int | None
    text: str
    paragraph: int | None = None  # 0-based paragraph (non-blank line) of the article; None for pre-split input


def normalise(text: str) -> str:
    """The form of a sentence that its id and gold-label matching use: NFKC,
    one kind of quote, single spaces, case-folded."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return " ".join(text.split()).casefold()


def sentence_id(article_id: str, text: str) -> str:
    return hashlib.sha1(f"{article_id}\n{normalise(text)}".encode()).hexdigest()[:16]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def compile_boilerplate(patterns: Iterable[str]) -> list[re.Pattern]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def load_boilerplate(path) -> list[re.Pattern]:
    """The drop-line regexes of `segment.boilerplate_path`; ConfigError naming the file if it
    is missing or malformed."""
    import yaml

    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (segment.boilerplate_path)") from None
    try:
        return compile_boilerplate(yaml.safe_load(text)["drop_lines"])
    except (KeyError, TypeError, yaml.YAMLError, re.error) as err:
        raise ConfigError(f"{path}: expected a 'drop_lines' list of regexes ({type(err).__name__})") from None


def extract_main_text(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""


@lru_cache(maxsize=8)
def _boilerplate_matcher(patterns: tuple[re.Pattern, ...]):
    """Whether a text is boilerplate (matches one of the patterns whole), faster than trying
    each pattern in turn, which cost a third of segmentation's time (issue 19): the patterns
    are joined into one regex, one call per line and sentence; and a pattern that starts with
    a run of anything ('.* news roku', a breadcrumb trail) and so scans the whole text runs
    only where the text holds a piece of literal text that every match of it holds. Patterns
    that cannot be joined (differing flags, references to their own groups) are tried one
    by one."""
    gated, plain = [], []  # gated: (literal, ASCII and case-folded, its case-insensitive search, the pattern)
    for p in patterns:
        literal = _required_literal(p)
        if len(literal) >= 3 and not p.pattern.startswith(re.escape(literal[0])):
            fold = bool(p.flags & re.IGNORECASE)
            search = re.compile(re.escape(literal), p.flags).search if fold else None
            gated.append((literal.lower() if fold else literal, fold and literal.isascii(), search, p.fullmatch))
        else:
            plain.append(p)
    joined = None
    if plain and len({p.flags for p in plain}) == 1 and not any(
            re.search(r"\\\d|\(\?P=|\(\?\(", p.pattern) for p in plain):
        try:
            joined = re.compile("|".join(f"(?:{p.pattern})" for p in plain), plain[0].flags).fullmatch
        except re.error:
            pass
    singles = [] if joined else [p.fullmatch for p in plain]

    def is_boilerplate(text: str) -> bool:
        if (joined is not None and joined(text) is not None) or any(full(text) for full in singles):
            return True
        # In ASCII text, case-insensitive matching is lower-casing: `in` is a tenth of a regex search.
        lowered = text.lower() if gated and text.isascii() else None
        for literal, ascii_fold, search, full in gated:
            if search is None:  # case matters: the literal as it is
                found = literal in text
            elif ascii_fold and lowered is not None:
                found = literal in lowered
            else:
                found = search(text) is not None
            if found and full(text):
                return True
        return False

    return is_boilerplate


def _required_literal(pattern: re.Pattern) -> str:
    """The longest run of literal characters that every match of `pattern` holds, "" if none
    is known (read from the parse of CPython's `re`, a private module: without it, none)."""
    try:
        from re import _parser
        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:
        return ""
    runs: list[str] = []

    def walk(items) -> None:
        run: list[str] = []
        for op, arg in items:
            if str(op) == "LITERAL":
                run.append(chr(arg))
                continue
            runs.append("".join(run))
            run = []
            if str(op) == "SUBPATTERN" and not arg[1] and not arg[2]:  # a group without its own flags
                walk(arg[-1])
            elif str(op) in ("MAX_REPEAT", "MIN_REPEAT") and arg[0] >= 1:  # repeated at least once
                walk(arg[2])
        runs.append("".join(run))

    walk(parsed)
    return max(runs, key=len, default="")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, stripped line) for every non-blank line."""
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            yield offset + raw.index(stripped), stripped
        offset += len(raw)


def segment_text(article_id: str, text: str, boilerplate: list[re.Pattern], min_words: int) -> list[Sentence]:
    sentences: list[Sentence] = []
    seen_lines: set[str] = set()
    seen_ids: set[str] = set()
    is_boilerplate = _boilerplate_matcher(tuple(boilerplate))
    for paragraph, (line_start, line) in enumerate(_lines(text)):
        key = normalise(line)
        if key in seen_lines or is_boilerplate(line):
            continue
        seen_lines.add(key)
        for at, piece in split(line):
            sid = sentence_id(article_id, piece)
            if word_count(piece) < min_words or sid in seen_ids or is_boilerplate(piece):
                continue
            seen_ids.add(sid)
            start = line_start + at
            sentences.append(Sentence(sid, article_id, len(sentences), start, start + len(piece), piece, paragraph))
    return sentences


def segment_article(article, config: SegmentConfig, boilerplate: list[re.Pattern]) -> list[Sentence]:
    """The sentences of an article (anything with `article_id`, `text` and `is_html`, such as
    an inputs.Document); an HTML page is reduced to its main text first."""
    text = extract_main_text(article.text) if article.is_html else article.text
    return segment_text(article.article_id, text, boilerplate, config.min_words)
