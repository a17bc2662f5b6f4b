"""Stage `score`: new articles -> the stance of every sentence, and a summary per article.

The same segmentation as the `segment` stage and the same StanceClassifier as
`evaluate`. Streaming: articles are segmented and their sentences tokenised (in
`workers` processes, or in this one), gathered across articles into windows of
`window` sentences, each window is predicted in length-sorted batches, and its rows
are yielded together with the summaries of the articles it finished. Memory holds
one window, the jobs in flight and one summary per unfinished article, whatever the
corpus size.

Sentence row (SENTENCE_COLUMNS):
    article_id, sentence_id, index   the article, the sentence's stable id, its position
    paragraph                        its paragraph (null for pre-split input)
    start, end                       character offsets into the article text (null for
                                     pre-split input)
    text, label                      the sentence and its predicted stance
    p_accusation, p_denial, p_neutral
    article_sha1                     the hash of the article's content these rows were scored from
Article summary (SUMMARY_COLUMNS):
    article_id, article_sha1, model (backend and model hash that scored it), source,
    sentences, n_<label>, share_<label>, mean_confidence,
    top_accusation / top_denial (+ _p, _sentence_id): the most confident sentence of each
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import SegmentConfig
from pipeline.inputs import Document
from pipeline.labels import LABELS
from pipeline.segmentation import Sentence, segment_article

SENTENCE_COLUMNS = {"article_id": "str", "sentence_id": "str", "index": "int", "paragraph": "int", "start": "int",
                    "end": "int", "text": "str", "label": "str", **{f"p_{lab}": "float" for lab in LABELS}, "article_sha1": "str"}
SUMMARY_COLUMNS = {"article_id": "str", "article_sha1": "str", "model": "str", "source": "str", "sentences": "int",
                   **{f"n_{lab}": "int" for lab in LABELS}, **{f"share_{lab}": "float" for lab in LABELS},
                   "mean_confidence": "float",
                   **{f"top_{lab}{suffix}": kind for lab in ("accusation", "denial")
                      for suffix, kind in (("", "str"), ("_p", "float"), ("_sentence_id", "str"))}}


def model_identity(folder: Path, backend: str) -> str:
    """The summaries' `model`, `backend:hash`: the md5 of the model folder without the
    weights only another backend reads (an export folder holds both ONNX files, and hashing
    the unused fp32 one was most of a short run's start-up). A resumed output is never
    finished by another model (pipeline/batch_scoring.py)."""
    from pipeline.classifier import ONNX_FILES
    from pipeline.tracking import folder_md5

    unread = {"model.safetensors", *ONNX_FILES.values()} - {ONNX_FILES.get(backend, "model.safetensors")}
    return f"{backend}:{folder_md5(folder, exclude=unread)[:12]}"


class ScoreConfig(BaseModel):
    """How `stance score` batches its work."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    batch_size: int | None = Field(None, ge=1, description="sentences per model call; None = 32 on CPU, 256 on GPU")
    # A wider window sorts more sentences by length at once, so batches pad less (the onnx
    # backends gain, torch hardly), for the memory of the sentences held (docs/benchmarks.md).
    window: int = Field(4096, ge=1, description="sentences gathered before predicting (bounds memory)")
    # One core segments and tokenises slower than a GPU scores, hence worker processes there
    # (docs/benchmarks.md); on a CPU the model wants the cores.
    workers: int = Field(0, ge=0, description="processes that segment and tokenise while the model runs; 0 = none, "
                                              "all in this process")
    # On a GPU the model call and this process's own work (rows, writing) each take a share of
    # a window's time: overlapped, the slower one sets the rate. On a CPU they share the cores.
    ahead: bool = Field(False, description="predict each window in a thread while the one before is turned into "
                                           "rows and written")


@dataclass
class ArticleSummary:
    article_id: str
    source: str
    article_sha1: str = ""
    model: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LABELS, 0))
    confidence_sum: float = 0.0
    top: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # label -> (p, text, sentence id)

    def add(self, row: dict) -> None:
        label, p = row["label"], row[f"p_{row['label']}"]
        self.counts[label] += 1
        self.confidence_sum += p
        if label in ("accusation", "denial") and p > self.top.get(label, (-1.0,))[0]:
            self.top[label] = (p, row["text"], row["sentence_id"])

    def row(self) -> dict:
        total = sum(self.counts.values())
        out = {"article_id": self.article_id, "article_sha1": self.article_sha1, "model": self.model,
               "source": self.source, "sentences": total,
               **{f"n_{lab}": n for lab, n in self.counts.items()},
               **{f"share_{lab}": round(n / total, 4) if total else 0.0 for lab, n in self.counts.items()},
               "mean_confidence": round(self.confidence_sum / total, 4) if total else None}
        for lab in ("accusation", "denial"):
            p, text, sid = self.top.get(lab, (None, None, None))
            out.update({f"top_{lab}": text, f"top_{lab}_p": None if p is None else round(p, 4),
                        f"top_{lab}_sentence_id": sid})
        return out


@dataclass
class ScoredWindow:
    rows: list[dict]  # sentence rows, in article order
    finished: list[dict]  # summaries of the articles whose last sentence is in `rows` or earlier


Context = tuple[str, str]  # (headline, previous sentence); "" where there is none
# A feed job holds about JOB_SENTENCES sentences (articles' counted from their length), from
# as many documents as it takes, so that its cost (a round trip between processes) is spread
# over some hundreds of sentences; a longer pre-split document is cut into pieces of that many.
JOB_SENTENCES, CHARS_PER_SENTENCE = 256, 150
LOOKAHEAD = 16  # jobs in flight per feed worker: bounds memory (at most workers x 16 x ~256 sentences)


@dataclass(frozen=True)
class Scorer:
    """The model as `score_documents` uses it, in two halves. `encode` (texts, contexts -> one
    item per sentence, e.g. its token ids) runs where sentences are prepared: in the feed
    workers when there are any, so it must pickle. `predict` (the items of one window -> (n, 3)
    probabilities) runs in this process."""

    encode: Callable[[list[str], list[Context] | None], list]
    predict: Callable[[list], np.ndarray]
    reads_context: bool = True  # False: no contexts are built or sent (encode gets None)

    @classmethod
    def of(cls, classifier, batch_size: int | None = None) -> Scorer:
        """A StanceClassifier's: its Encoder, and its batched prediction of what that encoded."""
        return cls(classifier.encoder, functools.partial(classifier.proba_of, batch_size=batch_size),
                   classifier.context != "none")


@dataclass
class Piece:
    """Some consecutive sentences of one document, with what `Scorer.encode` made of them."""

    doc: Document
    sentences: list[Sentence]
    encoded: list
    first: bool  # the document's first piece
    last: bool  # ... and its last


def contexts_of(sentences: Iterable[Sentence], state: list[str | None]) -> list[Context]:
    """Each sentence's (headline, previous sentence), as the model was trained
    (pipeline.schema.with_context); `state` [headline, previous] carries on from the sentences
    before, [None, None] at an article's start."""
    out = []
    for sentence in sentences:
        headline, previous = state
        out.append((headline or "", previous or ""))
        state[0], state[1] = headline if headline is not None else sentence.text, sentence.text
    return out


def prepare(parts: list[tuple[Document | None, list[str] | None, list[Context] | None]], encode: Callable,
            reads_context: bool, segment_config: SegmentConfig,
            boilerplate: list[re.Pattern]) -> list[tuple[list[Sentence] | None, list]]:
    """One feed job. Each part is an article (document, None, None) or the texts of some
    pre-split sentences with their contexts (None, texts, contexts); for each, the sentences
    (None for pre-split: the caller has them) and their encoding, all encoded in one call."""
    found: list[tuple[list[Sentence] | None, int]] = []  # each part's sentences (articles) and count
    texts: list[str] = []
    contexts: list[Context] | None = [] if reads_context else None
    for doc, part_texts, part_contexts in parts:
        sentences = None
        if part_texts is None:
            sentences = list(segment_article(doc, segment_config, boilerplate))
            part_texts = [s.text for s in sentences]
            part_contexts = contexts_of(sentences, [None, None]) if reads_context else None
        found.append((sentences, len(part_texts)))
        texts.extend(part_texts)
        if contexts is not None:
            contexts.extend(part_contexts)
    encoded = encode(texts, contexts) if texts else []
    out, at = [], 0
    for sentences, n in found:
        out.append((sentences, encoded[at:at + n]))
        at += n
    return out


def pieces(documents: Iterable[Document], scorer: Scorer, segment_config: SegmentConfig,
           boilerplate: list[re.Pattern], workers: int = 0) -> Iterator[Piece]:
    """The sentences of every document, encoded, in input order. With workers, articles are
    segmented and encoded, and pre-split sentences encoded, in that many processes, at most
    LOOKAHEAD jobs per worker ahead of the consumer, so memory stays bounded and the model
    scores one window while the next is prepared. A pre-split document's sentences are read to
    the end before the next document is read (`read_documents` streams them)."""
    # what a worker needs, sent once as it starts: the encoder (with its tokenizer), not the model
    state = (scorer.encode, scorer.reads_context, segment_config, boilerplate)
    pool = _feed_pool(workers, state) if workers else None
    ahead: deque[tuple[list[Piece], object]] = deque()  # jobs in input order: their pieces, result or Future
    job: list[Piece] = []
    parts: list[tuple] = []  # what the job sends: see `prepare`
    size = 0  # the job's sentences (an article's estimated from its length)

    def add(piece: Piece, contexts: list[Context] | None = None) -> Iterator[Piece]:
        nonlocal size
        job.append(piece)
        # a worker gets what it works on: an article's document, or pre-split sentences' texts
        if piece.doc.sentences is None:
            parts.append((piece.doc, None, None))
            size += len(piece.doc.text or "") / CHARS_PER_SENTENCE
        else:
            parts.append((None, [s.text for s in piece.sentences], contexts))
            size += len(piece.sentences)
        if size >= JOB_SENTENCES:
            yield from send()

    def send() -> Iterator[Piece]:
        nonlocal job, parts, size
        if job:
            ahead.append((job, pool.submit(_in_worker, list(parts)) if pool else prepare(parts, *state)))
            job, parts, size = [], [], 0
            while len(ahead) > workers * LOOKAHEAD:
                yield from _resolved(*ahead.popleft())

    try:
        for doc in documents:
            if doc.sentences is None:
                yield from add(Piece(doc, [], [], True, True))
                continue
            context: list[str | None] = [None, None]
            chunk: list[Sentence] = []
            first = True
            for sentence in itertools.chain(doc.sentences, [None]):
                end = sentence is None
                if not end:
                    chunk.append(sentence)
                if end or len(chunk) == JOB_SENTENCES:  # (an empty last piece after a full one closes the document)
                    contexts = contexts_of(chunk, context) if scorer.reads_context else None
                    yield from add(Piece(doc, chunk, [], first, end), contexts)
                    first, chunk = False, []
        yield from send()
        while ahead:
            yield from _resolved(*ahead.popleft())
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def _resolved(job: list[Piece], result) -> Iterator[Piece]:
    result = result.result() if isinstance(result, Future) else result
    for piece, (sentences, encoded) in zip(job, result):
        if sentences is not None:  # an article: the worker segmented it
            piece.sentences = sentences
        piece.encoded = encoded
        yield piece


# A feed worker's (encode, reads_context, segmentation config, boilerplate), set once when it
# starts: the encoder holds the tokenizer, too large to send with every job.
_WORKER_STATE: tuple = ()


def _start_feed_worker(state: tuple) -> None:
    import signal

    global _WORKER_STATE
    _WORKER_STATE = state
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone stops the run, without a traceback per worker


def _in_worker(parts: list[tuple]) -> list[tuple[list[Sentence] | None, list]]:
    return prepare(parts, *_WORKER_STATE)


def _feed_pool(workers: int, state: tuple):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold CUDA state or thread pools that a fork copies half-made.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_feed_worker, initargs=(state,))


def score_documents(config: ScoreConfig, documents: Iterable[Document], scorer: Scorer,
                    segment_config: SegmentConfig, boilerplate: list[re.Pattern], model: str = "") -> Iterator[ScoredWindow]:
    """Score every sentence of every document; yields one ScoredWindow per `window` sentences
    (the last one shorter), each predicted in one `scorer.predict` call. With `config.ahead`,
    a window is predicted in a thread while the one before is turned into rows and written."""
    pending: list[Sentence] = []
    encoded: list = []
    open_articles: dict[str, ArticleSummary] = {}
    closed: list[str] = []
    predictor = ThreadPoolExecutor(1, thread_name_prefix="stance-predict") if config.ahead else None
    in_flight: deque[tuple[list[Sentence], object, list[str]]] = deque()

    def start() -> Iterator[ScoredWindow]:
        tokens = list(encoded)
        probs = [] if not tokens else predictor.submit(scorer.predict, tokens) if predictor else scorer.predict(tokens)
        in_flight.append((list(pending), probs, list(closed)))
        pending.clear()
        encoded.clear()
        closed.clear()
        while len(in_flight) > (1 if predictor else 0):
            yield finish(*in_flight.popleft())

    def finish(sentences: list[Sentence], probs, closed_ids: list[str]) -> ScoredWindow:
        probs = probs.result() if isinstance(probs, Future) else probs
        rows = sentence_rows(sentences, probs, {aid: summary.article_sha1 for aid, summary in open_articles.items()})
        for row in rows:
            open_articles[row["article_id"]].add(row)
        return ScoredWindow(rows, [open_articles.pop(aid).row() for aid in closed_ids])

    try:
        for piece in pieces(documents, scorer, segment_config, boilerplate, config.workers):
            doc = piece.doc
            if piece.first:
                open_articles[doc.article_id] = ArticleSummary(doc.article_id, doc.source, doc.digest, model)
            done = 0
            while done < len(piece.sentences):
                take = min(config.window - len(pending), len(piece.sentences) - done)
                pending.extend(piece.sentences[done:done + take])
                encoded.extend(piece.encoded[done:done + take])
                done += take
                if len(pending) >= config.window:
                    yield from start()
            if piece.last:
                closed.append(doc.article_id)
        if pending or closed:
            yield from start()
        while in_flight:
            yield finish(*in_flight.popleft())
    finally:
        if predictor:  # interrupted: the window being predicted is not waited for
            predictor.shutdown(wait=False, cancel_futures=True)


def sentence_rows(sentences: list[Sentence], probs, article_sha1: dict[str, str]) -> list[dict]:
    """`sentence_row` of each sentence: the same rows, the labels and probabilities read from
    the whole (n, 3) array at once rather than row by row from numpy (issue 19)."""
    if not sentences:
        return []
    labels = [LABELS[i] for i in np.asarray(probs).argmax(axis=1).tolist()]
    keys = [f"p_{lab}" for lab in LABELS]
    return [{"article_id": s.article_id, "sentence_id": s.sentence_id, "index": s.index, "paragraph": s.paragraph,
             "start": s.start, "end": s.end, "text": s.text, "label": label,
             **{key: round(p, 6) for key, p in zip(keys, ps)}, "article_sha1": article_sha1[s.article_id]}
            for s, label, ps in zip(sentences, labels, np.asarray(probs).tolist())]


def sentence_row(sentence: Sentence, probs, article_sha1: str = "") -> dict:
    label = LABELS[int(probs.argmax())]
    return {"article_id": sentence.article_id, "sentence_id": sentence.sentence_id, "index": sentence.index,
            "paragraph": sentence.paragraph, "start": sentence.start, "end": sentence.end, "text": sentence.text, "label": label,
            **{f"p_{lab}": round(float(p), 6) for lab, p in zip(LABELS, probs)}, "article_sha1": article_sha1}
