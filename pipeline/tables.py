"""Record tables that `stance score` writes, as JSONL, CSV or Parquet (chosen by the
file's suffix), built for streaming, interruption and resumption.

Rows are appended in chunks; `commit()` makes the rows written so far durable (flush +
fsync for JSONL/CSV; an atomically renamed part file for Parquet). A run that is killed
leaves at most a torn last line or an unfinished temporary part, which `keep_only`
removes on the next run. Parquet parts live in `<file>.parts/` until `close()` merges them
into `<file>` (streamed, one part at a time).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.io import with_umask

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
# json.dumps(row, ensure_ascii=False) builds an encoder per call; one, reused, writes the same bytes
JSON_ENCODER = json.JSONEncoder(ensure_ascii=False)
KEY_SEP = "\x1f"  # joins the columns of a composite key in `keep_only`


def table_format(path: Path) -> str:
    try:
        return FORMATS[Path(path).suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: unsupported output format (use .jsonl, .csv or .parquet)") from None


class Table:
    """A typed table file: `columns` maps each column name to 'str', 'int' or 'float'."""

    def __init__(self, path: Path, columns: dict[str, str]):
        self.path = Path(path)
        self.columns = columns
        self.format = table_format(self.path)
        self._handle = None
        self._buffer: list = []  # Parquet: Arrow tables not yet committed

    # reading ---------------------------------------------------------------------------
    def rows(self) -> Iterator[dict]:
        """Every complete row on disk, in order (a torn last line is left out)."""
        if self.format == "parquet":
            for file in self._parquet_files():
                yield from _parquet_rows(file)
        elif self.path.exists():
            yield from (self._read_jsonl if self.format == "jsonl" else self._read_csv)()

    def _read_jsonl(self) -> Iterator[dict]:
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and set(self.columns) <= set(row):
                    yield row

    def _read_csv(self) -> Iterator[dict]:
        with open(self.path, encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                if None in row or any(row.get(c) is None for c in self.columns):
                    continue  # a torn last line
                yield {k: _from_csv(v, self.columns[k]) for k, v in row.items()}

    def _parquet_files(self) -> list[Path]:
        parts = self._parts_dir()
        files = sorted(parts.glob("*.parquet")) if parts.exists() else []
        return ([self.path] if self.path.exists() else []) + files

    def _parts_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".parts")

    # resuming ----------------------------------------------------------------------------
    def keep_only(self, key: str | tuple[str, ...], keep: set[str]) -> int:
        """Drop rows whose `key` (one column, or several joined by KEY_SEP) is not in `keep`,
        and any torn line. Returns rows dropped."""
        keys = (key,) if isinstance(key, str) else key
        if self.format == "parquet":
            return self._parquet_keep_only(keys, keep)
        if not self.path.exists():
            return 0
        # always rewritten: this also drops a torn last line and ends the file with a newline
        dropped = 0
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=f".{self.path.name}.",
                                         suffix=".tmp", delete=False, encoding="utf-8", newline="") as tmp:
            write = self._writer(tmp, header=True)
            for row in self.rows():
                if KEY_SEP.join(str(row[k]) for k in keys) in keep:
                    write(row)
                else:
                    dropped += 1
        with_umask(tmp.name)
        os.replace(tmp.name, self.path)
        return dropped

    def _parquet_keep_only(self, keys: tuple[str, ...], keep: set[str]) -> int:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        parts = self._parts_dir()
        if self.path.exists() and parts.exists():  # killed after the merge, before the clean-up
            shutil.rmtree(parts)
        for stale in parts.glob(".*.tmp") if parts.exists() else []:
            stale.unlink()
        if self.path.exists():  # resuming a finished file: it becomes the first part
            parts.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, parts / "00000000.parquet")
        dropped = 0
        for file in self._parquet_files():
            table = pq.read_table(file)
            joined = table[keys[0]] if len(keys) == 1 else pc.binary_join_element_wise(
                *(pc.cast(table[k], "string") for k in keys), KEY_SEP)
            mask = pc.is_in(joined, value_set=_pa_strings(keep))
            kept = table.filter(mask)
            if kept.num_rows < table.num_rows:
                dropped += table.num_rows - kept.num_rows
                _atomic_parquet(kept, file)
        return dropped

    # writing -----------------------------------------------------------------------------
    def write(self, rows: Iterable[dict]) -> None:
        rows = list(rows)
        if self.format == "parquet":
            if rows:
                self._buffer.append(self._arrow(rows))
            return
        write = self._open()
        for row in rows:
            write(row)

    def write_jsonl(self, text: str) -> None:
        """Append rows already encoded as JSONL lines (in the columns' order)."""
        if self.format != "jsonl":
            raise ValueError(f"{self.path}: not a JSONL table")
        self._open()
        self._handle.write(text)

    def write_columns(self, columns: dict[str, list]) -> None:
        """Append rows given as columns (every column, as lists of equal length)."""
        if self.format != "parquet":
            self.write(dict(zip(columns, values)) for values in zip(*columns.values()))
            return
        import pyarrow as pa

        table = pa.Table.from_pydict({c: columns[c] for c in self.columns}, schema=self._schema())
        if table.num_rows:
            self._buffer.append(table)

    def _open(self):
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._handle = open(self.path, "a", encoding="utf-8", newline="")
            self._write_row = self._writer(self._handle, header=new)
        return self._write_row

    def commit(self) -> None:
        if self.format == "parquet":
            if self._buffer:
                import pyarrow as pa

                parts = self._parts_dir()
                parts.mkdir(parents=True, exist_ok=True)
                number = len(list(parts.glob("*.parquet"))) + 1
                _atomic_parquet(pa.concat_tables(self._buffer).combine_chunks(), parts / f"{number:08d}.parquet")
                self._buffer = []
        elif self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Commit, and for Parquet merge the parts into the one file."""
        self.commit()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.format == "parquet":
            self._merge_parts()

    def _merge_parts(self) -> None:
        import pyarrow.parquet as pq

        parts = self._parts_dir()
        files = sorted(parts.glob("*.parquet")) if parts.exists() else []
        if not files and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        with pq.ParquetWriter(tmp, self._schema()) as writer:
            for file in files:
                writer.write_table(pq.read_table(file).cast(self._schema()))
        with_umask(tmp)
        os.replace(tmp, self.path)
        shutil.rmtree(parts, ignore_errors=True)

    def _writer(self, handle, header: bool):
        if self.format == "jsonl":
            columns = list(self.columns)
            encode = JSON_ENCODER.encode

            def write(row: dict) -> None:  # a row already in the columns' order is written as it is
                handle.write(encode(row if list(row) == columns else {c: row.get(c) for c in columns}) + "\n")

            return write
        writer = csv.DictWriter(handle, fieldnames=list(self.columns), extrasaction="ignore", lineterminator="\n")
        if header:
            writer.writeheader()
        return writer.writerow

    def _schema(self):
        import pyarrow as pa

        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
        return pa.schema([(name, types[kind]) for name, kind in self.columns.items()])

    def _arrow(self, rows: list[dict]):
        import pyarrow as pa

        return pa.Table.from_pylist([{c: row.get(c) for c in self.columns} for row in rows], schema=self._schema())


def remove_table(path: Path) -> None:
    """Delete a table file and any Parquet parts it left."""
    path = Path(path)
    path.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".parts"), ignore_errors=True)


def _from_csv(value: str, kind: str):
    if value == "":
        return None
    return int(value) if kind == "int" else float(value) if kind == "float" else value


def _parquet_rows(file: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(file).iter_batches(batch_size=4096):
        yield from batch.to_pylist()


def _pa_strings(values: set[str]):
    import pyarrow as pa

    return pa.array(sorted(values), type=pa.string())


def _atomic_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
