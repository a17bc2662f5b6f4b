import pytest

from pipeline.io import InputError, read_article, read_articles, read_jsonl, write_jsonl


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
    with pytest.raises(InputError) as err:
        read_article(path, max_bytes=100)
    assert str(err.value).startswith(str(path)) and reason in str(err.value)


def test_bad_articles_are_skipped_and_the_rest_read(tmp_path):
    (tmp_path / "good.txt").write_text("China denied the claims.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin.txt").write_bytes("Caf\u00e9".encode("latin-1"))
    (tmp_path / "notes.md").write_text("ignored: not an article type")
    articles, problems = read_articles(tmp_path, max_bytes=1000)
    assert [a.article_id for a in articles] == ["good"]
    assert len(problems) == 2 and all("\n" not in p for p in problems)


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfHello there world.")
    assert read_article(path, 1000).text == "Hello there world."


def test_duplicate_article_ids_are_reported(tmp_path):
    (tmp_path / "a.txt").write_text("One sentence here.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.html").write_text("<p>Another one here.</p>")
    articles, problems = read_articles(tmp_path, 1000)
    assert len(articles) == 1 and "duplicate article id 'a'" in problems[0]


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
