import pytest

from pipeline.config import CorpusConfig
from pipeline.corpus import check_diversity, diversity_report, near_duplicates, parse_authored
from pipeline.io import InputError


def row(i, text, label="denial", dispute="d1"):
    return {"id": f"x{i}", "text": text, "label": label, "dispute": dispute}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([row(1, "A b c.", label="denail")], "c.jsonl:1: unknown label 'denail'"),
        ([{"id": "x", "text": "A b c.", "label": "denial"}], "c.jsonl:1: missing or empty 'dispute'"),
        ([row(1, "A b c."), row(1, "D e f.")], "c.jsonl:2: duplicate id 'x1'"),
        ([row(1, "A b c."), row(2, "a  B c.")], "c.jsonl:2: duplicate text (same as line 1)"),
    ],
)
def test_bad_rows(rows, message):
    with pytest.raises(InputError) as err:
        parse_authored(rows, "c.jsonl")
    assert str(err.value).startswith(message)


def test_rows_become_records_grouped_by_dispute():
    (r,) = parse_authored([row(1, "The firm denied it.", dispute="bank")], "c")
    assert r["sentence_id"] == "authored:x1" and r["article_id"] == "authored:bank" and r["label_source"] == "authored"


def test_near_duplicates_found_and_distinct_sentences_pass():
    texts = ["The ministry rejected the report as baseless on Monday.",
             "The ministry rejected the report as baseless on Tuesday.",
             "Rights groups say hundreds of protesters were detained."]
    pairs = near_duplicates(texts, threshold=0.5)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]


def test_diversity_report_and_checks():
    authored = parse_authored([row(i, f"The ministry rejected the report as baseless and false on {w}.", dispute=f"d{i % 3}")
                               for i, w in enumerate(["one", "two", "three", "four", "five", "six"])], "c")
    cfg = CorpusConfig(min_sentences=5, min_disputes=3, near_duplicate_threshold=0.5)
    report = diversity_report(cfg, authored, ["A real news sentence from a seed article here."])
    assert report["sentences"] == 6 and report["disputes"] == 3
    assert report["words_per_sentence"]["authored"]["median"] == 11
    assert report["near_duplicates"] > 0  # templated sentences are near-duplicates
    assert any("near-duplicate" in p for p in check_diversity(cfg, report))
    strict = CorpusConfig(min_sentences=10, min_disputes=4)
    problems = check_diversity(strict, {**report, "near_duplicates": 0})
    assert problems == ["6 sentences < corpus.min_sentences 10", "3 disputes < corpus.min_disputes 4"]
