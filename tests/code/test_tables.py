"""Output tables: each format round-trips, and resuming drops torn and uncommitted rows."""

import pytest

from pipeline.tables import Table, remove_table, table_format

COLUMNS = {"article_id": "str", "index": "int", "start": "int", "p": "float", "text": "str"}


def rows(article, n):
    return [{"article_id": article, "index": i, "start": None if i else 0, "p": 0.5 + i / 10, "text": f'he said "{i}", then,\tleft'}
            for i in range(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_round_trip_keeps_types_and_nulls(tmp_path, suffix):
    table = Table(tmp_path / f"out{suffix}", COLUMNS)
    table.write(rows("a", 2))
    table.commit()
    table.write(rows("b", 1))
    table.close()
    assert list(Table(tmp_path / f"out{suffix}", COLUMNS).rows()) == rows("a", 2) + rows("b", 1)
    assert not (tmp_path / f"out{suffix}.parts").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_keep_only_drops_uncommitted_articles_then_appends(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    first = Table(path, COLUMNS)
    first.write(rows("a", 2) + rows("b", 2))
    first.close()
    again = Table(path, COLUMNS)
    assert again.keep_only("article_id", {"a"}) == 2
    again.write(rows("c", 1))
    again.close()
    assert [r["article_id"] for r in Table(path, COLUMNS).rows()] == ["a", "a", "c"]


@pytest.mark.parametrize("suffix, torn", [(".jsonl", '{"article_id": "b", "ind'), (".csv", 'b,0,,0.5,"he sa')])
def test_a_torn_last_line_is_dropped(tmp_path, suffix, torn):
    path = tmp_path / f"out{suffix}"
    table = Table(path, COLUMNS)
    table.write(rows("a", 1))
    table.close()
    with open(path, "a") as handle:
        handle.write(torn)  # the process was killed mid-write
    table = Table(path, COLUMNS)
    table.keep_only("article_id", {"a"})
    table.write(rows("c", 1))
    table.close()
    assert [r["article_id"] for r in Table(path, COLUMNS).rows()] == ["a", "c"]


def test_parquet_parts_left_by_a_killed_run_are_resumed(tmp_path):
    path = tmp_path / "out.parquet"
    table = Table(path, COLUMNS)
    table.write(rows("a", 1))
    table.commit()  # a committed part; the run dies before close()
    (tmp_path / "out.parquet.parts" / ".00000002.parquet.x.tmp").write_bytes(b"PAR1 half")
    resumed = Table(path, COLUMNS)
    assert resumed.keep_only("article_id", {"a"}) == 0
    resumed.write(rows("b", 1))
    resumed.close()
    assert [r["article_id"] for r in Table(path, COLUMNS).rows()] == ["a", "b"]
    remove_table(path)
    assert not path.exists()


def test_unknown_suffix_is_refused():
    with pytest.raises(ValueError, match="unsupported output format"):
        table_format("out.xlsx")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_rows_written_as_columns_or_jsonl_text_read_back_as_written_whole(tmp_path, suffix):
    """`stance score` writes a window as columns (Parquet) or as JSONL text it joined itself:
    the same rows, and for JSONL the same bytes, as writing the rows."""
    whole, other = Table(tmp_path / f"whole{suffix}", COLUMNS), Table(tmp_path / f"other{suffix}", COLUMNS)
    whole.write(rows("a", 3))
    whole.close()
    batch = rows("a", 3)
    if suffix == ".jsonl":
        other.write_jsonl((tmp_path / "whole.jsonl").read_text(encoding="utf-8"))
    else:
        other.write_columns({c: [r[c] for r in batch[:2]] for c in COLUMNS})
        other.commit()
        other.write_columns({c: [r[c] for r in batch[2:]] for c in COLUMNS})
        other.write_columns({c: [] for c in COLUMNS})
    other.close()
    assert list(Table(other.path, COLUMNS).rows()) == batch
    if suffix != ".parquet":
        assert other.path.read_bytes() == whole.path.read_bytes()
    else:
        with pytest.raises(ValueError, match="not a JSONL table"):
            Table(tmp_path / "x.parquet", COLUMNS).write_jsonl("{}\n")
