import pytest

from pipeline.gold import match_gold, parse_gold
from pipeline.io import InputError
from pipeline.segmentation import Sentence, sentence_id


def sent(article, index, text):
    return Sentence(sentence_id(article, text), article, index, 0, len(text), text)


SENTENCES = [sent("a", 0, "The firm denied the claims."), sent("a", 1, "Talks resume on Monday."),
             sent("b", 0, "The firm denied the claims.")]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"text": "x y z", "label": "acusation"}], "gold.jsonl:1: unknown label 'acusation'"),
        ([{"text": "x y z"}], "gold.jsonl:1: unknown label None"),
        ([{"label": "denial"}], "gold.jsonl:1: missing or empty 'text'"),
        ([{"text": "  ", "label": "denial"}], "gold.jsonl:1: missing or empty 'text'"),
        ([{"text": "A b c.", "label": "denial"}, {"text": "a  B c.", "label": "neutral"}],
         "gold.jsonl:2: duplicate sentence (same text as line 1)"),
    ],
)
def test_bad_gold_rows_fail_with_one_line(rows, message):
    with pytest.raises(InputError) as err:
        parse_gold(rows, "gold.jsonl")
    assert str(err.value).startswith(message)


def test_same_text_in_two_articles_is_not_a_duplicate():
    rows = [{"text": "Same.", "label": "denial", "article_id": "a"},
            {"text": "Same.", "label": "denial", "article_id": "b"}]
    assert len(parse_gold(rows, "g")) == 2


def test_match_by_text_not_position():
    gold = parse_gold([{"text": "talks resume on  Monday.", "label": "neutral"},
                       {"text": "The firm denied the claims.", "label": "denial", "article_id": "b"}], "g")
    matched = match_gold(gold, SENTENCES, "g")
    assert {k: v.label for k, v in matched.items()} == {
        SENTENCES[1].sentence_id: "neutral", SENTENCES[2].sentence_id: "denial"}


def test_unmatched_gold_row_is_an_error_not_dropped():
    gold = parse_gold([{"text": "Talks resume on Monday.", "label": "neutral"},
                       {"text": "A sentence that no article has.", "label": "denial"}], "gold.jsonl")
    with pytest.raises(InputError, match=r"gold.jsonl:2: gold row matches no segmented sentence \(1 such rows"):
        match_gold(gold, SENTENCES, "gold.jsonl")
