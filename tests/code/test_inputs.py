"""Inputs of `stance score`: every bad-input case is reported with its path and reason,
and everything else is still read."""

import io
import json

import pytest

from pipeline.inputs import InputConfig, input_files, read_documents

GOOD = "The ministry denied the report.\nRights groups accused the police of abuse.\n"


def read(specs, config=InputConfig(), stdin=None):
    problems = []
    docs = list(read_documents([str(s) for s in specs], config, problems.append, stdin=stdin))
    return docs, problems


@pytest.mark.parametrize("name, content, reason", [
    ("empty.txt", b"", "empty file"),
    ("blank.txt", b" \n\n  ", "empty file"),
    ("binary.txt", b"abc\x00\x01def", "binary file"),
    ("latin1.txt", "café olé".encode("latin-1"), "not UTF-8"),
    ("huge.txt", b"word " * 300, "too large"),
    ("page.pdf", b"%PDF-1.4", "unsupported format"),
    ("binary.jsonl", b'{"text": "a"}\x00\x00', "binary file"),
    ("empty.jsonl", b"", "empty file"),
])
def test_bad_file_is_reported_and_the_rest_read(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text(GOOD)
    docs, problems = read([tmp_path / name, tmp_path / "good.txt"], InputConfig(max_article_bytes=1000))
    assert [d.article_id for d in docs] == ["good"]
    assert len(problems) == 1 and problems[0].startswith(str(tmp_path / name)) and reason in problems[0]


def test_unsupported_files_inside_a_folder_are_reported(tmp_path):
    (tmp_path / "good.txt").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "memo.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")  # hidden files are not inputs
    docs, problems = read([tmp_path])
    assert [d.article_id for d in docs] == ["good"]
    assert sorted(problems) == [f"{tmp_path / 'report.pdf'}: unsupported format '.pdf' (expected .txt, .html, .htm or .jsonl)",
                                f"{tmp_path / 'sub' / 'memo.docx'}: unsupported format '.docx' (expected .txt, .html, .htm or .jsonl)"]


@pytest.mark.parametrize("line, reason", [
    ("not json", "malformed JSONL line"),
    ('["a list"]', "needs a non-empty string 'text'"),
    ('{"id": "x"}', "needs a non-empty string 'text'"),
    ('{"text": ""}', "needs a non-empty string 'text'"),
    ('{"text": 5}', "needs a non-empty string 'text'"),
    ('{"text": "a"} {"text": "b"}', "malformed JSONL line (Extra data)"),
    ('{"text": "a"} \u00a0', "malformed JSONL line (Extra data)"),  # json.loads' blanks only, not str.isspace's
    ('{"text": "Half of a pair \\ud800 alone."}', "not valid Unicode: a lone surrogate"),
])
def test_malformed_jsonl_line_is_reported_with_its_line_number(tmp_path, line, reason):
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps({"id": "a", "text": GOOD}) + "\n" + line + "\n" + json.dumps({"text": GOOD}) + "\n")
    docs, problems = read([path])
    assert [d.article_id for d in docs] == ["a", "batch:3"]
    assert problems == [p for p in problems if p.startswith(f"{path}:2: ") and reason in p] and len(problems) == 1


def test_non_utf8_jsonl_line_skips_only_that_line(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n' + json.dumps({"id": "ok", "text": GOOD}).encode() + b"\n")
    docs, problems = read([path])
    assert [d.article_id for d in docs] == ["ok"] and "batch.jsonl:1: not UTF-8" in problems[0]


def test_missing_path_and_unmatched_glob(tmp_path):
    docs, problems = read([tmp_path / "nope.txt", tmp_path / "*.html"])
    assert docs == [] and "no such file" in problems[0] and "no .txt, .html or .jsonl file matches" in problems[1]


def test_folders_recurse_globs_match_and_ids_are_stable(tmp_path):
    (tmp_path / "news" / "2024").mkdir(parents=True)
    (tmp_path / "news" / "2024" / "a.txt").write_text(GOOD)
    (tmp_path / "news" / "b.html").write_text(f"<html><body><article><p>{GOOD}</p></article></body></html>")
    (tmp_path / "news" / "notes.md").write_text("not an article")
    docs, problems = read([tmp_path / "news", tmp_path / "news" / "2024" / "*.txt"])
    assert [(d.article_id, d.is_html) for d in docs] == [("2024/a", False), ("b", True), ("a", False)]
    assert problems == [f"{tmp_path / 'news' / 'notes.md'}: unsupported format '.md' (expected .txt, .html, .htm or .jsonl)"]


def test_outputs_are_never_read_as_inputs(tmp_path):
    (tmp_path / "a.txt").write_text(GOOD)
    (tmp_path / "out.jsonl").write_text('{"text": "an earlier output"}\n')
    files = list(input_files([str(tmp_path)], print, exclude=[tmp_path / "out.jsonl"]))
    assert [f for f, _ in files] == [str(tmp_path / "a.txt")]


def test_stdin_as_text_and_as_jsonl():
    docs, _ = read(["-"], stdin=io.BytesIO(GOOD.encode()))
    assert [d.text for d in docs] == [GOOD] and docs[0].article_id.startswith("stdin-")
    other, _ = read(["-"], stdin=io.BytesIO((GOOD + " More.").encode()))
    assert other[0].article_id != docs[0].article_id  # named by content: a second article is a new one
    assert read(["-"], stdin=io.BytesIO(GOOD.encode()))[0][0].article_id == docs[0].article_id
    lines = b'{"id": "s1", "text": "One."}\n{"text": "Two."}\n'
    docs, _ = read(["-"], InputConfig(stdin_format="jsonl"), stdin=io.BytesIO(lines))
    assert docs[0].article_id == "s1" and docs[1].article_id == f"stdin-{docs[1].digest}"
    assert [d.source for d in docs] == ["-:1", "-:2"]


def test_idless_jsonl_on_stdin_is_named_by_content_not_line():
    """A second, different stream piped into the same output adds articles instead of taking
    the first stream's ids (which would make them edits of its articles); the same stream
    piped again gets the same ids, so a re-run resumes. Files keep `<stem>:<line>`."""
    jsonl = InputConfig(stdin_format="jsonl")

    def ids(*texts):
        stream = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
        docs, problems = read(["-"], jsonl, stdin=io.BytesIO(stream))
        assert not problems and [d.text for d in docs] == list(texts)
        return [d.article_id for d in docs]

    first = ids("The ministry denied it.", "Critics accused the police.")
    second = ids("Talks resume on Monday.", "The army rejected the claim.")
    assert len(set(first)) == 2 and all(i.startswith("stdin-") for i in first + second)
    assert not set(first) & set(second)
    assert ids("The ministry denied it.", "Critics accused the police.") == first
    assert ids("Critics accused the police.")[0] == first[1]  # its content, not its line, names it


def test_presplit_sentences_on_stdin_without_article_id_are_named_by_content():
    config = InputConfig(sentences=True, stdin_format="jsonl")

    def article(*texts):
        stream = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
        (doc,), problems = read(["-"], config, stdin=io.BytesIO(stream))
        assert not problems and [s.text for s in doc.sentences] == list(texts)
        return doc.article_id

    first = article("The ministry denied it.", "Critics accused the police.")
    assert first.startswith("stdin-") and article("Talks resume on Monday.") != first
    assert article("The ministry denied it.", "Critics accused the police.") == first


def test_idless_jsonl_files_keep_line_ids(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"text": "One."}\n{"id": "x", "text": "Two."}\n{"text": "Three."}\n')
    docs, _ = read([path])
    assert [d.article_id for d in docs] == ["feed:1", "x", "feed:3"]


def test_presplit_sentences_keep_their_ids_and_group_by_article(tmp_path):
    path = tmp_path / "sents.jsonl"
    rows = [{"id": "x1", "text": "China denied it.", "article_id": "A"}, {"id": "x2", "text": "Critics disagreed.", "article_id": "A"},
            {"text": "Talks resume.", "article_id": "B"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs = read_documents([str(path)], InputConfig(sentences=True), print)  # lazy: consumed in order
    got = [(d.article_id, [(s.sentence_id, s.index, s.text, s.start) for s in d.sentences]) for d in docs]
    assert got[0] == ("A", [("x1", 0, "China denied it.", None), ("x2", 1, "Critics disagreed.", None)])
    assert got[1][0] == "B" and len(got[1][1][0][0]) == 16  # no id given: the stable hash id


def test_oversized_jsonl_record_is_reported_the_rest_read(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps({"text": "word " * 500}) + "\n" + json.dumps({"id": "ok", "text": GOOD}) + "\n")
    docs, problems = read([path], InputConfig(max_article_bytes=1000))
    assert [d.article_id for d in docs] == ["ok"] and problems == [f"{path}:1: text too large (limit 1,000 bytes)"]


def test_a_folder_lists_as_pathlib_did_and_links_to_an_output_are_outputs(tmp_path):
    """Folders are listed with os.walk (issue 19: pathlib's objects cost the scoring process
    several times as much per file), with rglob's files, order and ids: hidden files
    skipped, hidden folders walked, linked folders not followed, linked files read, order by
    path parts (a/b/x before a-b/y), any case of suffix."""
    root = tmp_path / "in"
    for name in ("a/b/x.txt", "a-b/y.TXT", "a/z.html", "a/.hidden.txt", ".hid/h.txt", "a/b.c.txt", "a/x.", "out.jsonl"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(GOOD)
    (root / "linked").symlink_to(root / "a" / "b")
    (root / "linked.html").symlink_to(root / "a" / "z.html")
    (root / "output-link.jsonl").symlink_to(root / "out.jsonl")
    problems = []
    files = list(input_files([str(root)], problems.append, exclude=[root / "out.jsonl"]))
    assert [(f.removeprefix(str(root)), base) for f, base in files] == [
        ("/.hid/h.txt", ".hid/h"), ("/a/b/x.txt", "a/b/x"), ("/a/b.c.txt", "a/b.c"), ("/a/z.html", "a/z"),
        ("/a-b/y.TXT", "a-b/y"), ("/linked.html", "linked")]
    assert problems == [f"{root / 'a' / 'x.'}: unsupported format '(no suffix)' (expected .txt, .html, .htm or .jsonl)"]
