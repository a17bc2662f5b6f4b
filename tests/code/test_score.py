"""The score stage (windows, summaries) and the resumable run around it, with a
keyword predictor so that expected labels are obvious."""

import json
import re

import numpy as np
import pytest

from pipeline.batch_scoring import run_batch_scoring, summary_path_for
from pipeline.config import SegmentConfig
from pipeline.inputs import Document, InputConfig, read_documents
from pipeline.score import (JOB_SENTENCES, LOOKAHEAD, SENTENCE_COLUMNS, SUMMARY_COLUMNS, ScoreConfig, ScoredWindow, Scorer,
                            model_identity, pieces, score_documents)
from pipeline.segmentation import Sentence
from pipeline.tables import Table


def keyword_probs(texts, contexts=None):
    assert contexts is None or len(contexts) == len(texts)
    out = []
    for t in texts:
        i = 1 if "denied" in t else 0 if "accused" in t else 2
        row = np.full(3, 0.1)
        row[i] = 0.8 + min(len(t), 50) / 1000  # longer -> a bit more confident
        out.append(row)
    return np.array(out).reshape(len(texts), 3)


def keyword_encode(texts, contexts):
    """A feed worker's half: each sentence with its context (module level, so that it pickles)."""
    return list(zip(texts, contexts if contexts is not None else [None] * len(texts)))


def keyword_predict(encoded):
    return keyword_probs([text for text, _ in encoded])


KEYWORDS = Scorer(keyword_encode, keyword_predict)


@pytest.fixture
def workers_find_this_module(monkeypatch, root):
    """Feed workers are spawned processes: they unpickle `keyword_encode` by importing this
    module, and with pytest's importlib mode the repository root is not on the sys.path they
    inherit."""
    monkeypatch.syspath_prepend(str(root))

ARTICLES = {
    "a": "The ministry denied the report.\nRights groups accused the police of abuse at length.\nTalks resume on Monday.",
    "b": "The firm denied any wrongdoing at all.\nThe firm denied it.",
    "c": "Ok.",  # no sentence survives min_words: still an article, with an empty summary
}


def docs(ids=ARTICLES):
    return [Document(aid, f"{aid}.txt", ARTICLES[aid]) for aid in ids]


def pre_split(article_id: str, n: int) -> Document:
    return Document(article_id, "-", None, sentences=[Sentence(f"{article_id}-{i}", article_id, i, None, None,
                                                               f"Sentence {i} of {article_id} was denied.")
                                                      for i in range(n)])


@pytest.mark.parametrize("window", [1, 2, 100])
def test_windows_cover_every_sentence_once_and_finish_every_article(window):
    windows = list(score_documents(ScoreConfig(window=window), docs(), KEYWORDS, SegmentConfig(), []))
    rows = [r for w in windows for r in w.rows]
    summaries = {s["article_id"]: s for w in windows for s in w.finished}
    assert [(r["article_id"], r["index"], r["label"]) for r in rows] == [
        ("a", 0, "denial"), ("a", 1, "accusation"), ("a", 2, "neutral"), ("b", 0, "denial"), ("b", 1, "denial")]
    assert list(summaries) == ["a", "b", "c"]
    assert summaries["b"]["n_denial"] == 2 and summaries["b"]["share_denial"] == 1.0
    assert summaries["b"]["top_denial"] == "The firm denied any wrongdoing at all."  # the more confident one
    assert summaries["a"]["top_accusation_sentence_id"] == rows[1]["sentence_id"]
    assert summaries["c"]["sentences"] == 0 and summaries["c"]["mean_confidence"] is None
    assert all(ARTICLES[r["article_id"]][r["start"]:r["end"]] == r["text"] for r in rows)


def mixed_documents():
    """More jobs than two workers hold in flight: articles, and pre-split documents that are
    empty, one piece, exactly one full piece, and several pieces."""
    many = [Document(f"{aid}{i}", f"{aid}{i}.txt", ARTICLES[aid] * (1 + i % 3)) for i in range(2 * LOOKAHEAD)
            for aid in ARTICLES]
    many.insert(5, Document("empty", "-", None, sentences=[]))
    many.insert(9, pre_split("one", 3))
    many.insert(20, pre_split("full", JOB_SENTENCES))
    many.insert(40, pre_split("long", 2 * JOB_SENTENCES + 7))
    return many


@pytest.mark.usefixtures("workers_find_this_module")
def test_feed_workers_give_the_same_pieces_in_the_same_order():
    def flat(workers):
        by_doc: dict = {}
        for piece in pieces(mixed_documents(), KEYWORDS, SegmentConfig(), [], workers):
            entry = by_doc.setdefault(piece.doc.article_id, [[], [], []])
            b = piece.block
            entry[0].extend(Sentence(*row) for row in zip(b.sentence_id, b.article_id, b.index, b.start, b.end, b.text,
                                                          b.paragraph))
            entry[1].extend(piece.encoded)
            entry[2].append((piece.first, piece.last))
        return by_doc

    inline, pooled = flat(0), flat(2)
    assert pooled == inline
    assert list(inline) == [doc.article_id for doc in mixed_documents()]
    for flags in (entry[2] for entry in inline.values()):  # one first piece, one last piece, per document
        assert flags[0][0] and flags[-1][1] and sum(f for f, _ in flags) == 1 and sum(last for _, last in flags) == 1
    long = inline["long"]
    assert [s.index for s in long[0]] == list(range(2 * JOB_SENTENCES + 7))
    # the context carries across pieces: headline, then the previous sentence
    assert long[1][JOB_SENTENCES] == (long[0][JOB_SENTENCES].text, (long[0][0].text, long[0][JOB_SENTENCES - 1].text))


@pytest.mark.usefixtures("workers_find_this_module")
@pytest.mark.parametrize("window", [7, JOB_SENTENCES, 4096])
def test_feed_workers_and_predicting_ahead_give_the_same_windows(window):
    def windows(workers, ahead=False, jsonl=False):
        config = ScoreConfig(window=window, workers=workers, ahead=ahead)
        return [(w.rows, w.finished, w.jsonl()) for w in score_documents(config, mixed_documents(), KEYWORDS,
                                                                          SegmentConfig(), [], jsonl=jsonl)]

    inline = windows(0)
    assert windows(2) == inline
    assert windows(0, ahead=True) == inline
    assert windows(2, ahead=True) == inline
    assert windows(2, jsonl=True) == windows(0, jsonl=True) == inline  # JSONL heads made in the workers, or here
    assert all(len(rows) == window for rows, _, _ in inline[:-1])
    assert sum(len(finished) for _, finished, _ in inline) == len(mixed_documents())


def test_predicting_ahead_runs_the_next_window_while_the_last_is_consumed():
    import threading

    release, second, started = threading.Event(), threading.Event(), []

    def predict(encoded):
        started.append(encoded[0][0])
        if len(started) == 2:  # the second window waits until the first has been consumed
            second.set()
            assert release.wait(10)
        return keyword_predict(encoded)

    windows = score_documents(ScoreConfig(window=2, ahead=True), docs("ab"), Scorer(keyword_encode, predict),
                              SegmentConfig(), [])
    first = next(windows)
    assert [r["article_id"] for r in first.rows] == ["a", "a"]
    assert second.wait(10)  # the second window is being predicted while the first is in our hands
    release.set()
    assert [r["article_id"] for w in windows for r in w.rows] == ["a", "b", "b"]


@pytest.mark.usefixtures("workers_find_this_module")
def test_feed_workers_keep_pre_split_sentences_read_lazily_from_one_file(tmp_path):
    lines = [{"article_id": f"a{i // 3}", "text": f"Sentence {i} of the file."} for i in range(30)]
    path = tmp_path / "sentences.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    def texts(workers):
        documents = read_documents([str(path)], InputConfig(sentences=True), report=print)
        return [text for piece in pieces(documents, KEYWORDS, SegmentConfig(), [], workers) for text in piece.block.text]

    assert texts(2) == texts(0) == [line["text"] for line in lines]


@pytest.mark.usefixtures("workers_find_this_module")
def test_a_pre_split_documents_sentences_are_read_before_the_next_document():
    # they stream from the file that holds the next documents too
    events = []

    def sentences():
        yield from pre_split("b", 3).sentences
        events.append("b read")

    def documents():
        for aid in "abc":
            events.append(aid)
            yield Document(aid, "-", None, sentences=sentences()) if aid == "b" else Document(aid, f"{aid}.txt", ARTICLES[aid])

    got = [piece.doc.article_id for piece in pieces(documents(), KEYWORDS, SegmentConfig(), [], workers=2)]
    assert events == ["a", "b", "b read", "c"] and got == ["a", "b", "c"]


def write_articles(folder, ids=ARTICLES):
    folder.mkdir(exist_ok=True)
    for aid in ids:
        (folder / f"{aid}.txt").write_text(ARTICLES[aid])
    return folder


def run(folder, out, **kw):
    problems = []
    stats = run_batch_scoring([str(folder)], out, summary_path_for(out), KEYWORDS, SegmentConfig(), [],
                              InputConfig(), ScoreConfig(window=1), report=problems.append, **kw)
    return stats, problems


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_interrupted_run_resumes_without_duplicates(tmp_path, suffix):
    folder = write_articles(tmp_path / "in")
    clean = tmp_path / f"clean{suffix}"
    run(folder, clean)
    out = tmp_path / f"out{suffix}"

    def interrupt(stats):
        if stats.articles >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(folder, out, on_window=interrupt)
    stats, _ = run(folder, out)
    assert stats.already_done == 1  # article a was finished before the interruption
    for columns, got, expected in ((SENTENCE_COLUMNS, out, clean),
                                   (SUMMARY_COLUMNS, summary_path_for(out), summary_path_for(clean))):
        assert list(Table(got, columns).rows()) == list(Table(expected, columns).rows())
    again, _ = run(folder, out)  # nothing left to do
    assert (again.articles, again.already_done) == (0, 3)


def test_torn_line_and_rows_of_unfinished_article_are_dropped_on_resume(tmp_path):
    folder = write_articles(tmp_path / "in", ["a"])
    out = tmp_path / "out.jsonl"
    run(folder, out)
    with open(out, "a") as handle:  # a killed run: rows of b written, b's summary never committed
        handle.write('{"article_id": "b", "sentence_id": "x", "index": 0, "start": 0, "end": 3, "text": "The", '
                     '"label": "neutral", "p_accusation": 0.1, "p_denial": 0.1, "p_neutral": 0.8}\n{"article_id": "b", "sen')
    write_articles(folder, ["b"])
    run(folder, out)
    got = [(r["article_id"], r["index"]) for r in Table(out, SENTENCE_COLUMNS).rows()]
    assert got == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert out.read_text().count("\n") == 5


def test_duplicate_article_id_and_bad_files_are_reported_the_rest_scored(tmp_path):
    folder = write_articles(tmp_path / "in", ["a"])
    other = write_articles(tmp_path / "other", ["a", "b"])
    (other / "empty.txt").write_text("")
    out = tmp_path / "out.jsonl"
    problems = []
    stats = run_batch_scoring([str(folder), str(other)], out, summary_path_for(out), KEYWORDS, SegmentConfig(), [],
                              InputConfig(), ScoreConfig(), report=problems.append)
    assert stats.articles == 2 and len(stats.skipped) == 2
    assert any("duplicate article id 'a'" in p for p in problems) and any("empty.txt: empty file" in p for p in problems)


def test_overwrite_starts_afresh(tmp_path):
    folder = write_articles(tmp_path / "in", ["a"])
    out = tmp_path / "out.jsonl"
    run(folder, out)
    stats, _ = run(folder, out, overwrite=True)
    assert stats.articles == 1 and len(list(Table(out, SENTENCE_COLUMNS).rows())) == 3


def test_each_sentence_gets_its_articles_headline_and_previous_sentence():
    seen = []

    def record(texts, contexts):
        seen.extend(zip(texts, contexts))
        return keyword_encode(texts, contexts)

    list(score_documents(ScoreConfig(window=2), docs("ab"), Scorer(record, keyword_predict), SegmentConfig(), []))
    first, second, third = (t for t, _ in seen[:3])
    assert [c for _, c in seen[:3]] == [("", ""), (first, first), (first, second)]
    assert seen[3][1] == ("", "")  # article b starts afresh


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_an_edited_article_is_scored_again_and_its_old_rows_replaced(tmp_path, suffix):
    folder = write_articles(tmp_path / "in", ["a", "b"])
    out = tmp_path / f"out{suffix}"
    run(folder, out, model="onnx:abc")
    (folder / "a.txt").write_text("The ministry denied the report again.\nTalks resume on Friday.")
    stats, _ = run(folder, out, model="onnx:abc")
    assert (stats.articles, stats.already_done, stats.rescored) == (1, 1, 1)
    rows = list(Table(out, SENTENCE_COLUMNS).rows())
    assert [r["text"] for r in rows if r["article_id"] == "a"] == ["The ministry denied the report again.",
                                                                     "Talks resume on Friday."]
    summaries = list(Table(summary_path_for(out), SUMMARY_COLUMNS).rows())
    assert sorted(s["article_id"] for s in summaries) == ["a", "b"]


def test_an_edited_article_cut_short_keeps_its_old_rows_until_scored_again(tmp_path):
    folder = write_articles(tmp_path / "in", ["a"])
    out = tmp_path / "out.jsonl"
    run(folder, out)
    before = list(Table(out, SENTENCE_COLUMNS).rows())
    (folder / "a.txt").write_text("The ministry denied the report again.\nTalks resume on Friday.")

    def interrupt(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # new rows written, its summary not yet
        run(folder, out, on_window=interrupt)
    stats, _ = run(folder, out)
    assert stats.rescored == 1
    after = list(Table(out, SENTENCE_COLUMNS).rows())
    assert len(after) == 2 and after != before and len({r["article_sha1"] for r in after}) == 1


def test_another_model_into_the_same_output_is_refused(tmp_path):
    from pipeline.batch_scoring import ResumeError

    folder = write_articles(tmp_path / "in", ["a"])
    out = tmp_path / "out.jsonl"
    run(folder, out, model="torch:111")
    with pytest.raises(ResumeError, match="scored with model torch:111, not onnx:222"):
        run(folder, out, model="onnx:222")
    stats, _ = run(folder, out, model="onnx:222", overwrite=True)
    assert stats.articles == 1


def test_model_identity_is_what_the_backend_reads(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "model.int8.onnx", "model.onnx", "model.safetensors"):
        (folder / name).write_text(name)
    int8, fp32, torch = (model_identity(folder, b) for b in ("onnx", "onnx-fp32", "torch"))
    assert int8.startswith("onnx:") and len({int8.split(":")[1], fp32.split(":")[1], torch.split(":")[1]}) == 3
    (folder / "model.onnx").write_text("another fp32 export")
    (folder / "model.safetensors").write_text("other weights")
    assert model_identity(folder, "onnx") == int8  # weights it does not read
    (folder / "model.int8.onnx").write_text("another int8 export")
    assert model_identity(folder, "onnx") != int8
    (folder / "tokenizer.json").write_text("another tokenizer")
    assert model_identity(folder, "torch") != torch


def reference_row(sentence, probs, article_sha1):
    """A sentence row as `stance score` built it one by one before rows were made per window."""
    label = ("accusation", "denial", "neutral")[int(np.argmax(probs))]
    return {"article_id": sentence.article_id, "sentence_id": sentence.sentence_id, "index": sentence.index,
            "paragraph": sentence.paragraph, "start": sentence.start, "end": sentence.end, "text": sentence.text,
            "label": label, **{f"p_{lab}": round(float(p), 6) for lab, p in zip(("accusation", "denial", "neutral"), probs)},
            "article_sha1": article_sha1}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_windows_rows_jsonl_and_columns_are_the_rows_built_one_by_one(tmp_path, dtype):
    """Rows, JSONL and columns are made per window from columns (issue 19): the same rows as
    one by one, the same bytes as the table writer gives them, and ties go to the first label
    as with argmax."""
    from pipeline.score import ArticleSummary, Block, finish_window
    from pipeline.segmentation import segment_text

    sentences = [s for aid, text in ARTICLES.items() for s in segment_text(aid, text, [], 3)]
    sentences.append(Sentence("q-0", "q", 0, None, None, 'She said "no" \u2014 twice, in caf\u00e9s.\tThen left.'))
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=len(sentences)).astype(dtype)
    probs[0] = [0.4, 0.4, 0.2]
    sha1 = {aid: f"sha-{aid}" for aid in [*ARTICLES, "q"]}
    block = Block.join([Block.of([s for s in sentences if s.article_id == aid], sha1[aid]) for aid in sha1])
    summaries = {aid: ArticleSummary(aid, f"{aid}.txt") for aid in sha1}
    window = finish_window(block, probs, summaries, [])
    expected = [reference_row(s, p, sha1[s.article_id]) for s, p in zip(sentences, probs)]
    assert window.rows == expected and [list(r) for r in window.rows] == [list(r) for r in expected]
    assert window.rows[0]["label"] == "accusation"
    table = Table(tmp_path / "rows.jsonl", SENTENCE_COLUMNS)
    table.write(expected)
    table.close()
    assert window.jsonl() == (tmp_path / "rows.jsonl").read_text(encoding="utf-8")
    assert window.jsonl() == ScoredWindow(block.with_heads(), window.labels, window.probs, []).jsonl()
    assert list(window.columns()) == list(SENTENCE_COLUMNS)
    assert [dict(zip(window.columns(), values)) for values in zip(*window.columns().values())] == expected
    empty = finish_window(Block.join([]), np.zeros((0, 3), dtype), {}, [])
    assert empty.rows == [] and empty.jsonl() == ""


def test_round6_of_float32_is_pythons_round():
    from pipeline.score import round6

    rng = np.random.default_rng(1)
    probs = np.concatenate([rng.random(300_000), rng.random(100_000) * 1e-4,
                            np.arange(0, 200_000) / 2e5 + 5e-7]).astype(np.float32).reshape(-1, 3)
    fast = round6(probs)
    assert fast == [[round(p, 6) for p in ps] for ps in probs.tolist()]
    assert [repr(p) for ps in fast[:1000] for p in ps] == [repr(round(p, 6)) for ps in probs[:1000].tolist() for p in ps]


def test_tokens_travel_from_the_workers_packed_and_come_back_the_same():
    from pipeline.score import _pack, _unpack

    single = [[([101, 7, 102], None), ([101, 102], None)], [], [([101, 9, 9, 9, 102], None)]]
    pairs = [[([101, 7, 102, 5, 102], [0, 0, 0, 1, 1])], [([101, 102, 102], [0, 0, 1]), ([101, 102], [0, 0])]]
    for encoded in (single, pairs):
        packed = _pack(encoded)
        assert not isinstance(packed, list) and _unpack(packed) == encoded
    for other in ([[("text", None)]], [[([1], None), ([2], [0])]], [[]], []):  # not Tokens, or mixed: as they are
        assert _unpack(_pack(other)) == other and isinstance(_pack(other), list)
