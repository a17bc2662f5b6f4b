"""Review loop: export -> a person fills labels in the CSV -> import merges into gold."""

import csv
import json
import os
import stat

import numpy as np
import pytest

from pipeline.gold import match_gold, parse_gold
from pipeline.io import InputError
from pipeline.review import (LABEL_STUDIO_CONFIG, label_studio_tasks, merge_review, read_review_csv,
                             select_for_review, write_review_csv)
from pipeline.segmentation import Sentence, sentence_id


def sentence(article, index, text):
    return {"sentence_id": sentence_id(article, text), "article_id": article, "index": index, "start": 0,
            "end": len(text), "text": text}


SENTENCES = [sentence("new", 0, "The company rejected the findings."),
             sentence("new", 1, "Regulators fined the company."),
             sentence("new", 2, "The hearing is on Monday."),
             sentence("old", 0, "Critics accused the firm.")]
RECORDS = [{**SENTENCES[0], "label_source": "weak", "weak_label": "denial"},
           {**SENTENCES[1], "label_source": "weak", "weak_label": "denial"},
           {**SENTENCES[2], "label_source": "none", "weak_label": None},
           {**SENTENCES[3], "label_source": "gold", "weak_label": "accusation", "label": "accusation"}]
PROBS = np.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]])


def test_selection_ranks_disagreement_then_low_confidence_and_skips_gold():
    rows = select_for_review(RECORDS, PROBS, limit=10)
    assert [r["text"] for r in rows] == [SENTENCES[1]["text"], SENTENCES[2]["text"], SENTENCES[0]["text"]]
    assert rows[0]["reason"] == "model says accusation, weak labeler says denial"
    assert rows[0]["suggestion"] == "accusation" and rows[0]["label"] == ""
    assert len(select_for_review(RECORDS, PROBS, limit=1)) == 1


def test_round_trip_export_fill_import(tmp_path):
    path = tmp_path / "review.csv"
    write_review_csv(path, select_for_review(RECORDS, PROBS, limit=10))
    rows = read_review_csv(path)
    rows[0]["label"] = "Accusation"  # people type labels in any case
    rows[1]["label"] = "neutral"
    rows[1]["note"] = "schedule"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    old_gold = [{"sentence_id": SENTENCES[3]["sentence_id"], "article_id": "old", "text": SENTENCES[3]["text"],
                 "label": "accusation"}]
    merged, changed, already = merge_review(read_review_csv(path), {s["sentence_id"]: s for s in SENTENCES}, old_gold, "r")
    assert (changed, already) == (2, 0) and len(merged) == 3
    again = merge_review(read_review_csv(path), {s["sentence_id"]: s for s in SENTENCES}, merged, "r")
    assert again == (merged, 0, 2)  # imported twice: already merged, nothing changes
    gold = parse_gold(merged, "gold")
    matched = match_gold(gold, [Sentence(**s) for s in SENTENCES], "gold")
    assert {matched[s["sentence_id"]].label for s in SENTENCES[1:4]} == {"accusation", "neutral"}
    assert SENTENCES[0]["sentence_id"] not in matched  # left empty: not reviewed yet


def test_reviewed_label_replaces_old_gold():
    old = [{"sentence_id": SENTENCES[3]["sentence_id"], "article_id": "old", "text": SENTENCES[3]["text"],
            "label": "accusation"}]
    merged, _, _ = merge_review([{"sentence_id": SENTENCES[3]["sentence_id"], "label": "denial"}],
                                {s["sentence_id"]: s for s in SENTENCES}, old, "r")
    assert [g["label"] for g in merged] == ["denial"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"sentence_id": SENTENCES[0]["sentence_id"], "label": "acusation"}], "r.csv:2: unknown label 'acusation'"),
        ([{"sentence_id": "nope", "label": "denial"}], "r.csv:2: unknown sentence_id 'nope'"),
        ([{"sentence_id": SENTENCES[0]["sentence_id"], "label": "denial"},
          {"sentence_id": SENTENCES[0]["sentence_id"], "label": "neutral"}], "r.csv:3: duplicate sentence_id"),
    ],
)
def test_bad_review_rows(rows, message):
    with pytest.raises(InputError) as err:
        merge_review(rows, {s["sentence_id"]: s for s in SENTENCES}, [], "r.csv")
    assert str(err.value).startswith(message)


def test_every_bad_row_is_reported_in_one_run():
    rows = [{"sentence_id": "nope", "label": "denial"},
            {"sentence_id": SENTENCES[0]["sentence_id"], "label": "acusation"},
            {"sentence_id": SENTENCES[1]["sentence_id"], "label": "denial"}]
    with pytest.raises(InputError) as err:
        merge_review(rows, {s["sentence_id"]: s for s in SENTENCES}, [], "r.csv")
    assert str(err.value).splitlines() == ["r.csv:2: unknown sentence_id 'nope' (not in the segmented articles)",
                                           "r.csv:3: unknown label 'acusation' (expected one of accusation, denial, neutral)"]


def test_label_studio_export_is_read_back(tmp_path):
    import json

    from pipeline.review import read_label_studio_export

    tasks = label_studio_tasks(select_for_review(RECORDS, PROBS, limit=2))
    tasks[0]["annotations"] = [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                            "value": {"choices": ["denial"]}}]}]
    tasks[1]["annotations"] = []  # not labelled yet
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    rows = read_label_studio_export(path)
    assert rows == [{"sentence_id": tasks[0]["data"]["sentence_id"], "label": "denial"},
                    {"sentence_id": tasks[1]["data"]["sentence_id"], "label": ""}]
    merged, changed, _ = merge_review(rows, {s["sentence_id"]: s for s in SENTENCES}, [], str(path), first_line=1)
    assert changed == 1 and merged[0]["label"] == "denial"
    path.write_text("{not json")
    with pytest.raises(InputError, match="export.json: not a Label Studio JSON export"):
        read_label_studio_export(path)


def test_bad_review_files(tmp_path):
    no_label = tmp_path / "a.csv"
    no_label.write_text("sentence_id,text\nx,y\n")
    with pytest.raises(InputError, match="a.csv: missing column"):
        read_review_csv(no_label)
    latin = tmp_path / "b.csv"
    latin.write_bytes("sentence_id,label\nx,d\u00e9nial\n".encode("latin-1"))
    with pytest.raises(InputError, match="b.csv: not UTF-8"):
        read_review_csv(latin)


def test_label_studio_tasks():
    (task,) = label_studio_tasks(select_for_review(RECORDS, PROBS, limit=1))
    assert task["data"]["text"] == SENTENCES[1]["text"]
    assert task["predictions"][0]["result"][0]["value"] == {"choices": ["accusation"]}


@pytest.fixture
def review_project(tmp_path, monkeypatch):
    """A folder with the data the review commands read (data/labeled.jsonl, data/sentences.jsonl)
    and a stand-in model that scores RECORDS with PROBS; the gold file is tmp_path/gold.jsonl."""
    from pipeline.classifier import StanceClassifier
    from pipeline.io import write_jsonl

    class Model:
        def predict_proba(self, texts, contexts=None):
            by_text = {r["text"]: p for r, p in zip(RECORDS, PROBS)}
            return np.array([by_text[t] for t in texts])

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/labeled.jsonl", RECORDS)
    write_jsonl(tmp_path / "data/sentences.jsonl", SENTENCES)
    monkeypatch.setattr(StanceClassifier, "load", staticmethod(lambda model_dir: Model()))
    return tmp_path


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def label_studio_export(tasks_path, out, label):
    """What Label Studio exports once a person has chosen `label` for the first task."""
    tasks = json.loads(tasks_path.read_text())
    tasks[0]["annotations"] = [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                            "value": {"choices": [label]}}]}]
    out.write_text(json.dumps(tasks))
    return tasks[0]["data"]["sentence_id"]


def test_review_files_are_written_with_the_users_umask(review_project, umask):
    """Export and import write through temp files (mode 0600); what they leave behind has the
    mode a plain open() would give: 0666 less the umask (0644 under the usual 022)."""
    from pipeline.review import export_for_review, import_review

    export_for_review(review_project / "review.csv", 10, review_project / "model", review_project / "tasks.json")
    ls_export = review_project / "export.json"
    label_studio_export(review_project / "tasks.json", ls_export, "denial")
    gold = review_project / "gold.jsonl"
    import_review(ls_export, gold)
    written = ["review.csv", "tasks.json", "tasks.label_config.xml", "gold.jsonl"]
    modes = {name: oct(stat.S_IMODE((review_project / name).stat().st_mode)) for name in written}
    assert modes == dict.fromkeys(written, oct(0o666 & ~umask))
    assert not list(review_project.glob(".*.tmp"))  # no temp file left behind


def test_label_studio_export_imports_end_to_end_and_twice_changes_nothing(review_project):
    """`stance review import export.json`: the chosen label lands in the gold file beside the old
    rows; importing the same export again reports the labels as already merged."""
    from pipeline.io import read_jsonl, write_jsonl
    from pipeline.review import export_for_review, import_review

    message = export_for_review(review_project / "review.csv", 10, review_project / "model",
                                review_project / "tasks.json")
    assert message.startswith("review export: 3 sentences -> ")
    assert (review_project / "tasks.label_config.xml").read_text() == LABEL_STUDIO_CONFIG
    gold = review_project / "gold.jsonl"
    old = {"sentence_id": SENTENCES[3]["sentence_id"], "article_id": "old", "text": SENTENCES[3]["text"],
           "label": "accusation"}
    write_jsonl(gold, [old])
    ls_export = review_project / "export.json"
    sid = label_studio_export(review_project / "tasks.json", ls_export, "neutral")
    assert sid == SENTENCES[1]["sentence_id"]  # the disagreement ranks first

    assert import_review(ls_export, gold) == (
        f"review import: 1 labels merged into {gold}; run `dvc repro` to retrain")
    rows = list(read_jsonl(gold))
    assert rows == [old, {"sentence_id": sid, "article_id": "new", "text": SENTENCES[1]["text"], "label": "neutral"}]

    before = gold.read_bytes()
    assert import_review(ls_export, gold) == f"review import: nothing new (1 labels already merged into {gold})"
    assert gold.read_bytes() == before
