"""`stance eval-set`'s reading, figures and bad input, without a model (the figures come
from given probabilities); tests/model/test_score_cli.py runs it end to end."""

import json

import numpy as np
import pytest

from pipeline.evalset import contexts_of, evaluate_rows, read_eval_set, summary_text
from pipeline.io import InputError
from pipeline.labels import LABELS


@pytest.fixture
def fixture(root):
    return root / "tests/fixtures/evalset.jsonl"


def test_rows_groups_sure_and_context(fixture):
    rows = read_eval_set(fixture)
    assert [r.id for r in rows] == [f"f-{i}" for i in range(1, 8)]
    assert [r.sure for r in rows].count(False) == 1 and {r.group for r in rows} == {"company", "state"}
    contexts = contexts_of(rows)
    assert contexts[0] == ("", "") and contexts[2] == (rows[0].text, rows[1].text) and contexts[4] == ("", "")


def test_figures_per_subset_class_and_group_and_the_errors(fixture):
    rows = read_eval_set(fixture)
    truth = [LABELS.index(r.label) for r in rows]
    predicted = list(truth)
    predicted[2] = LABELS.index("accusation")  # one sure denial read as an accusation
    probs = np.eye(3)[predicted] * 0.8 + 0.2 / 3
    report, errors = evaluate_rows(rows, probs)
    assert report["all"]["sentences"] == 7 and report["sure"]["sentences"] == 6
    assert report["all"]["confusion"][1] == [1, 1, 0]
    assert report["groups"]["state"]["sure_macro_f1"] == 1.0 and report["groups"]["company"]["sure_macro_f1"] < 1
    assert report["all"]["ece"] == pytest.approx(abs(6 / 7 - (0.8 + 0.2 / 3)), abs=1e-3)
    assert [(e["id"], e["gold"], e["predicted"]) for e in errors] == [("f-3", "denial", "accusation")]
    text = summary_text({"source": "x", **report}, len(errors))
    assert "sure" in text and "company" in text and "1 errors" in text


def test_csv_is_read_like_jsonl(fixture, tmp_path):
    import csv

    rows = [json.loads(line) for line in fixture.read_text().splitlines()]
    path = tmp_path / "set.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert read_eval_set(path) == read_eval_set(fixture)


@pytest.mark.parametrize("name, content, message", [
    ("empty.jsonl", "", "empty.jsonl: empty file (no labelled rows)"),
    ("bad.jsonl", '{"text": "A b c.", "label": "denial"}\n{oops\n', "bad.jsonl:2: not valid JSON"),
    ("label.jsonl", '{"text": "A b c.", "label": "denail"}\n', "label.jsonl:1: unknown label 'denail'"),
    ("notext.jsonl", '{"label": "denial"}\n', "notext.jsonl:1: missing or empty 'text'"),
    ("blank.jsonl", '{"text": "  ", "label": "denial"}\n', "blank.jsonl:1: missing or empty 'text'"),
    ("list.jsonl", '["A b c.", "denial"]\n', "list.jsonl:1: expected a JSON object"),
    ("cols.csv", "sentence,label\nA b c.,denial\n", "cols.csv:1: the header needs 'text' and 'label' columns"),
    ("row.csv", "text,label\nA b c.,denial\nD e f.,accused\n", "row.csv:3: unknown label 'accused'"),
    ("set.txt", "A b c.", "set.txt: unsupported format '.txt'"),
])
def test_bad_input_is_one_line_naming_the_file_and_row(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as err:
        read_eval_set(path)
    assert str(err.value).startswith(str(tmp_path / message.split(":")[0]) + message[len(message.split(":")[0]):])
    assert "\n" not in str(err.value)


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"text": "caf\u00e9", "label": "denial"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="latin.jsonl: not UTF-8"):
        read_eval_set(path)
    with pytest.raises(InputError, match="nowhere.jsonl: no such file"):
        read_eval_set(tmp_path / "nowhere.jsonl")
