import json

import pytest

from pipeline.authored import load_authored, parse_authored
from pipeline.config import CorpusConfig
from pipeline.corpus import _near_duplicates, _problems, _report
from pipeline.io import InputError


def row(i, text, label="denial", dispute="d1"):
    return {"id": f"x{i}", "text": text, "label": label, "dispute": dispute}


def art(article, index, text, label="denial", dispute="d1"):
    return {"article_id": article, "index": index, "text": text, "label": label, "dispute": dispute,
            "domain": "company", "register": "wire"}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([row(1, "A b c.", label="denail")], "c.jsonl:1: unknown label 'denail'"),
        ([{"id": "x", "text": "A b c.", "label": "denial"}], "c.jsonl:1: missing or empty 'dispute'"),
        ([row(1, "A b c."), row(1, "D e f.")], "c.jsonl:2: duplicate id 'x1'"),
        ([row(1, "A b c."), row(2, "a  B c.")], "c.jsonl:2: duplicate text (same as c.jsonl:1)"),
        ([{"text": "A b c.", "label": "denial", "dispute": "d"}], "c.jsonl:1: needs 'article_id' and 'index', or an 'id'"),
        ([art("a1", -1, "A b c.")], "c.jsonl:1: 'index' must be a whole number >= 0"),
        ([art("a1", 0, "A b c."), art("a1", 0, "D e f.")], "c.jsonl:2: duplicate id 'a1:0'"),
    ],
)
def test_bad_rows(rows, message):
    with pytest.raises(InputError) as err:
        parse_authored(rows, "c.jsonl")
    assert str(err.value).startswith(message)


def test_loose_rows_become_records_grouped_by_dispute():
    (r,) = parse_authored([row(1, "The firm denied it.", dispute="bank")], "c")
    assert r["sentence_id"] == "authored:x1" and r["article_id"] == "authored:bank" and r["label_source"] == "authored"


def test_article_rows_carry_their_context(tmp_path):
    path = tmp_path / "articles.jsonl"
    rows = [art("a1", 0, "Regulator fines Corvane Bank over laundering lapses", "accusation"),
            art("a1", 1, "The regulator said the bank ignored suspicious transfers for years.", "accusation"),
            art("a1", 2, "The bank said it had cooperated fully and rejected the findings.", "denial")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = load_authored([path])
    assert [r["context"] for r in records] == [
        ["", ""], [rows[0]["text"], rows[0]["text"]], [rows[0]["text"], rows[1]["text"]]]
    assert records[2]["sentence_id"] == "authored:a1:2" and records[2]["domain"] == "company"


def test_duplicate_text_across_files_is_caught(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(row(1, "The firm denied it.")) + "\n")
    b.write_text(json.dumps(art("z", 0, "The  firm denied it.")) + "\n")
    with pytest.raises(InputError, match=r"b.jsonl:1: duplicate text \(same as .*a.jsonl:1\)"):
        load_authored([a, b])


def test_near_duplicates_found_and_distinct_sentences_pass():
    texts = ["The ministry rejected the report as baseless on Monday.",
             "The ministry rejected the report as baseless on Tuesday.",
             "Rights groups say hundreds of protesters were detained."]
    pairs = _near_duplicates(texts, threshold=0.5)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]


def test_report_and_checks():
    authored = parse_authored([row(i, f"The ministry rejected the report as baseless and false on {w}.", dispute=f"d{i % 3}")
                               for i, w in enumerate(["one", "two", "three", "four", "five", "six"])], "c")
    cfg = CorpusConfig(min_sentences=5, min_disputes=3, near_duplicate_threshold=0.5)
    report = _report(cfg, authored, ["A real news sentence from a seed article here."])
    assert report["sentences"] == 6 and report["disputes"] == 3 and report["loose_sentences"] == 6
    assert report["words_per_sentence"]["authored"]["median"] == 11
    assert report["near_duplicates"] > 0  # templated sentences are near-duplicates
    assert any("near-duplicate" in p for p in _problems(cfg, report))
    strict = CorpusConfig(min_sentences=10, min_disputes=4)
    problems = _problems(strict, {**report, "near_duplicates": 0})
    assert problems == ["6 sentences < corpus.min_sentences 10", "3 disputes < corpus.min_disputes 4"]
