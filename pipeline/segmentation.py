"""Segmentation, shared by the `segment` stage and `stance score`: article text -> sentences.

Each article is split into lines; page boilerplate and repeated lines (a headline
printed twice) are dropped; pysbd splits each remaining line into sentences, and
boilerplate sentences (a photo credit after a caption) and fragments too short to
carry a claim are dropped. HTML
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


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # imported lazily: building its rules takes a moment

    # pysbd builds ~700 regexes through re's module-level cache (512 entries). Python 3.11
    # evicts the oldest entry, hot or not, so pysbd recompiles all the time; at 4,096 it
    # segments ~25% faster, the same sentences (docs/benchmarks.md). 3.12+ evicts the least
    # recently used and gains nothing. A private attribute: where it is gone, nothing changes.
    if getattr(re, "_MAXCACHE", 4096) < 4096:
        re._MAXCACHE = 4096
    return pysbd.Segmenter(language="en", clean=False)


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


def _is_boilerplate(text: str, boilerplate: list[re.Pattern]) -> bool:
    return any(p.fullmatch(text) for p in boilerplate)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, stripped line) for every non-blank line."""
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            yield offset + raw.index(stripped), stripped
        offset += len(raw)


def _split_line(line: str) -> Iterator[tuple[int, str]]:
    cursor = 0
    for piece in _segmenter().segment(line):
        piece = piece.strip()
        if not piece:
            continue
        at = line.find(piece, cursor)
        if at < 0:  # pysbd changed the text: keep the line whole rather than guess offsets
            yield 0, line
            return
        cursor = at + len(piece)
        yield at, piece


def segment_text(article_id: str, text: str, boilerplate: list[re.Pattern], min_words: int) -> list[Sentence]:
    sentences: list[Sentence] = []
    seen_lines: set[str] = set()
    seen_ids: set[str] = set()
    for paragraph, (line_start, line) in enumerate(_lines(text)):
        key = normalise(line)
        if key in seen_lines or _is_boilerplate(line, boilerplate):
            continue
        seen_lines.add(key)
        for at, piece in _split_line(line):
            sid = sentence_id(article_id, piece)
            if word_count(piece) < min_words or sid in seen_ids or _is_boilerplate(piece, boilerplate):
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
