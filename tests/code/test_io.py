import pytest

from pipeline.inputs import InputConfig, read_documents
from pipeline.io import InputError, read_jsonl, write_jsonl


def read(folder, max_bytes=1000):
    problems = []
    return list(read_documents([str(folder)], InputConfig(max_bytes), problems.append)), problems


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"  \n\n\t ", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("Caf\u00e9 au lait.".encode("latin-1"), "not UTF-8"),
        (b"x" * 101, "too large"),
    ],
)
def test_bad_article_is_reported(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    documents, problems = read(tmp_path, max_bytes=100)
    assert not documents and len(problems) == 1
    assert problems[0].startswith(str(path)) and reason in problems[0]


def test_bad_articles_are_skipped_and_the_rest_read(tmp_path):
    (tmp_path / "good.txt").write_text("China denied the claims.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin.txt").write_bytes("Caf\u00e9".encode("latin-1"))
    (tmp_path / "notes.md").write_text("reported: not an article type")
    articles, problems = read(tmp_path)
    assert [a.article_id for a in articles] == ["good"]
    assert len(problems) == 3 and all("\n" not in p for p in problems)


def test_utf8_bom_is_dropped(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello there world.")
    assert read(tmp_path)[0][0].text == "Hello there world."


def test_jsonl_round_trip_and_errors(tmp_path):
    path = tmp_path / "x.jsonl"
    assert write_jsonl(path, [{"a": 1}, {"b": "é"}]) == 2
    assert list(read_jsonl(path)) == [{"a": 1}, {"b": "é"}]
    path.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(InputError, match=r"x.jsonl:2: not valid JSON"):
        list(read_jsonl(path))
    path.write_text("[1, 2]\n")
    with pytest.raises(InputError, match=r"x.jsonl:1: expected a JSON object"):
        list(read_jsonl(path))
