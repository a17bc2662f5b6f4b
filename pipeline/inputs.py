"""What `stance score` reads: files, folders (recursive; files whose name starts with a dot
are left out, and linked folders are not followed), globs and `-` (standard input), as a
stream of documents. Nothing is read before it is needed.

Formats, by suffix:
    .txt           one article
    .html / .htm   one article; its main text is extracted (as in the `segment` stage)
    .jsonl         one article per line: {"text": ..., "id": optional}; or, with
                   `sentences=True`, one pre-split sentence per line: {"text": ..., "id":
                   optional, "article_id": optional}. Consecutive sentences with the same
                   `article_id` form one article; without it, the file is one article.
Article ids: a file's path relative to the folder given (without suffix), or its stem when
the file or a glob was given; a JSONL record's `id`, else `<file stem>:<line>`. On standard
input, whatever has no id is named by its content (`stdin-<digest>`), so that a second stream
into the same output adds its articles rather than replacing the first stream's.

Bad inputs never stop the stream: each is reported once through `report` with its path
and the reason (empty, binary, not UTF-8, over the size limit, malformed JSONL line,
unsupported suffix, no such file), and the rest is read.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.io import InputError, decode_article, read_limited
from pipeline.segmentation import Sentence, sentence_id

_BLANKS = json.decoder.WHITESPACE.match  # what json.loads allows after the value
SUFFIXES = {".txt": "txt", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
Format = Literal["txt", "html", "jsonl"]
Report = Callable[[str], None]


@dataclass(frozen=True)
class InputConfig:
    max_article_bytes: int = 2_000_000  # per article (a file, or one JSONL record's text)
    sentences: bool = False  # JSONL records are pre-split sentences
    stdin_format: Format = "txt"


@dataclass(frozen=True)
class Document:
    """One article: its text to segment, or (pre-split input) its sentences."""

    article_id: str
    source: str
    text: str | None = None
    is_html: bool = False
    sentences: Iterable[Sentence] | None = None
    digest: str = ""  # sha1 of the content (the text, or the sentences): a changed article is scored again


def digest(*parts: str) -> str:
    import hashlib

    h = hashlib.sha1()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()[:16]


def input_files(specs: Iterable[str], report: Report, exclude: Iterable[Path] = ()) -> Iterator[tuple[str, str]]:
    """(path or '-', article-id base) for every input file, in the order given, folders sorted.
    Files in `exclude` (the run's own outputs) are never read as inputs: compared as files
    (device and inode, so a link to an output is one too), with the outputs that exist once a
    spec has been listed, since an output created later is not in that listing."""
    exclude = [str(p) for p in exclude]
    for listing in _listings(specs, report):
        outputs = {identity for identity in map(_identity, exclude) if identity is not None}
        for path, base in listing:
            if path == "-" or not outputs or _identity(path) not in outputs:
                yield path, base


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _suffix(name: str) -> str:
    """pathlib's `suffix` of a file name or path."""
    name = name.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _unsupported(path: str) -> str:
    suffix = _suffix(path)
    return f"{path}: unsupported format {suffix or '(no suffix)'!r} (expected .txt, .html, .htm or .jsonl)"


def _listings(specs: Iterable[str], report: Report) -> Iterator[list[tuple[str, str]]]:
    """Each spec's files, listed at once. Strings and os.walk rather than pathlib, whose
    objects cost several times as much per file, and the scoring process lists every article
    it feeds a GPU (docs/benchmarks.md); the same files, order and names as Path.rglob gave."""
    for spec in specs:
        if spec == "-":
            yield [("-", "stdin")]
            continue
        path = Path(spec)
        if path.is_dir():
            root = str(path)
            everything = []  # (relative parts, path): pathlib's order is that of the parts
            for folder, _, names in os.walk(root):  # as rglob: linked folders are not followed
                relative = os.path.relpath(folder, root)
                parts = () if relative == "." else tuple(relative.split(os.sep))
                everything.extend((parts + (name,), os.path.join(folder, name)) for name in names
                                  if not name.startswith(".") and os.path.isfile(os.path.join(folder, name)))
            everything.sort()
            files = []
            for parts, file in everything:
                suffix = _suffix(parts[-1])
                if suffix.lower() in SUFFIXES:
                    files.append((file, "/".join(parts)[:-len(suffix)]))
                else:
                    report(_unsupported(file))
            if not files:
                report(f"{path}: no .txt, .html or .jsonl files in this folder")
            yield files
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                report(_unsupported(str(path)))
                continue
            yield [(str(path), path.stem)]
        elif glob.has_magic(spec):
            files = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            files = [f for f in files if f.is_file() and f.suffix.lower() in SUFFIXES]
            if not files:
                report(f"{spec}: no .txt, .html or .jsonl file matches")
            yield [(str(f), f.stem) for f in files]
        else:
            report(f"{spec}: no such file or folder")


def read_documents(specs: Iterable[str], config: InputConfig, report: Report, stdin=None,
                   exclude: Iterable[Path] = ()) -> Iterator[Document]:
    """Every readable document of the inputs, in order; bad ones reported and skipped."""
    for path, base in input_files(specs, report, exclude):
        kind = config.stdin_format if path == "-" else SUFFIXES[_suffix(path).lower()]
        try:
            if kind == "jsonl":
                handle = (stdin or sys.stdin.buffer) if path == "-" else _open_jsonl(path)
                with handle:
                    yield from _jsonl_documents(handle, path, base, config, report)
            else:
                limit = config.max_article_bytes
                raw = (stdin or sys.stdin.buffer).read(limit + 1) if path == "-" else read_limited(Path(path), limit)
                text = decode_article(Path(path), raw, limit)
                content = digest(text)
                # standard input has no name: its content names it, so a second article piped in is a new one
                yield Document(f"stdin-{content}" if path == "-" else base, path, text, kind == "html", digest=content)
        except InputError as err:
            report(str(err))
        except OSError as err:
            report(f"{path}: cannot read ({err.strerror or err})")


def _open_jsonl(path: str):
    handle = open(path, "rb")
    if b"\x00" in handle.read(8192):
        handle.close()
        raise InputError(f"{path}: binary file (contains NUL bytes)")
    handle.seek(0)
    return handle


def _jsonl_records(handle, path: str, config: InputConfig, report: Report) -> Iterator[tuple[int, dict]]:
    """(line number, record) of every valid line of a binary handle; each bad line reported."""
    empty = True
    scan = json.JSONDecoder().scan_once  # json.loads' own scanner, without its layers: a line is one value
    limit = config.max_article_bytes
    for number, raw in enumerate(handle, start=1):
        if not raw or raw.isspace():
            continue
        empty = False
        if b"\x00" in raw:
            report(f"{path}:{number}: binary data (NUL bytes)")
            continue
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            report(f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start})")
            continue
        try:
            record, end = scan(line, 0)
            if _BLANKS(line, end).end() != len(line):
                raise ValueError
        except (StopIteration, ValueError):  # leading blanks, or not one value: json.loads says what
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                report(f"{path}:{number}: malformed JSONL line ({err.msg})")
                continue
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            report(f"{path}:{number}: malformed JSONL record (needs a non-empty string 'text' field)")
            continue
        try:
            size = len(text) if text.isascii() else len(text.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): no writer could write it back
            report(f"{path}:{number}: malformed JSONL record (its text is not valid Unicode: a lone surrogate)")
            continue
        if size > limit:
            report(f"{path}:{number}: text too large (limit {limit:,} bytes)")
        else:
            yield number, record
    if empty:
        report(f"{path}: empty file")


def _jsonl_documents(handle, path: str, base: str, config: InputConfig, report: Report) -> Iterator[Document]:
    stem = Path(base).name if path != "-" else base
    records = _jsonl_records(handle, path, config, report)
    if not config.sentences:
        for number, record in records:
            content = digest(record["text"])
            # an id-less record from standard input is named by its content, as a plain-text article
            # there is: a line number would make a second stream's articles edits of the first's
            default = f"stdin-{content}" if path == "-" else f"{stem}:{number}"
            yield Document(_id(record, "id", default), f"{path}:{number}", record["text"], digest=content)
        return
    for article_id, group in itertools.groupby(records, key=lambda nr: _id(nr[1], "article_id", "")):
        group = list(group)  # one article's sentences, to know its digest
        if not article_id:  # a file without article ids is one article; on standard input it is
            # named by its content, as an article there is, so a second stream adds, not replaces
            article_id = f"stdin-{digest(*(r['text'] for _, r in group))}" if path == "-" else stem
        sentences = list(_sentences(article_id, group))
        yield Document(article_id, path, sentences=sentences,
                       digest=digest(*(f"{s.sentence_id}\x00{s.text}" for s in sentences)))


def _sentences(article_id: str, group: Iterable[tuple[int, dict]]) -> Iterator[Sentence]:
    for index, (_, record) in enumerate(group):
        text = record["text"]
        sid = record.get("id")
        if sid is None or sid == "":  # hashed only when needed: 7% of the feed's time (issue 19)
            sid = sentence_id(article_id, text)
        yield Sentence(str(sid), article_id, index, None, None, text)


def _id(record: dict, key: str, default: str) -> str:
    value = record.get(key)
    return default if value is None or value == "" else str(value)


def documents_from_bytes(path: str, base: str, raw: bytes, config: InputConfig, report: Report) -> Iterator[Document]:
    """The documents of one input file already read into memory (`stance score --engine
    spark` reads files through Spark): the same ids, digests and reports as `read_documents`
    gives the same file."""
    import io

    kind = SUFFIXES.get(_suffix(path).lower())
    if kind is None:
        report(_unsupported(path))
        return
    try:
        if kind == "jsonl":
            if b"\x00" in raw[:8192]:
                raise InputError(f"{path}: binary file (contains NUL bytes)")
            yield from _jsonl_documents(io.BytesIO(raw), path, base, config, report)
        else:
            text = decode_article(Path(path), raw, config.max_article_bytes)
            yield Document(base, path, text, kind == "html", digest=digest(text))
    except InputError as err:
        report(str(err))
