"""File I/O shared by the stages: JSONL records, JSON files, bounded file reads.

Writes are atomic (temp file + rename) so an interrupted stage never leaves a
half-written output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class InputError(ValueError):
    """A bad input file. The message is one line naming the file and the problem."""


def read_jsonl(path: Path) -> Iterator[dict]:
    for _, record in numbered_jsonl(path):
        yield record


def numbered_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) of every non-blank line; InputError naming the file and line
    on the first bad one (not JSON, not an object, not UTF-8)."""
    with open(path, encoding="utf-8-sig") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}:{number}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}:{number}: expected a JSON object")
                yield number, record
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not UTF-8 (byte offset {err.start} of a line)") from None


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    def dump(handle):
        count = 0
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count

    return atomic_write(path, dump)


def write_json(path: Path, data: object) -> None:
    atomic_write(path, lambda h: h.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n"))


def atomic_write(path: Path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            result = write(handle)
        with_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def with_umask(path) -> None:
    """Give a file made by tempfile (mode 0600) the mode a plain open() would have (0666 less
    the umask, typically 0644), so that teammates can read what a run wrote."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def file_md5(path: Path) -> str:
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decode_article(path: Path, raw: bytes, max_bytes: int) -> str:
    """Return the article's text, or raise InputError saying why it can't be used."""
    if len(raw) > max_bytes:
        raise InputError(f"{path}: too large ({len(raw):,} bytes > limit {max_bytes:,})")
    if not raw.strip():
        raise InputError(f"{path}: empty file")
    if b"\x00" in raw:
        raise InputError(f"{path}: binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    return text


def read_limited(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; InputError if it is larger than `max_bytes` (checked before reading)."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:  # don't read a huge file just to reject it
        raise InputError(f"{path}: too large ({size:,} bytes > limit {max_bytes:,})")
    return path.read_bytes()
