"""Stage `score`: new articles -> the stance of every sentence, and a summary per article.

The same segmentation as the `segment` stage and the same StanceClassifier as
`evaluate`. Streaming: sentences are gathered across articles into windows of
`window` sentences, each window is predicted in length-sorted batches, and its rows
are yielded together with the summaries of the articles it finished. Memory holds
one window and one summary per unfinished article, whatever the corpus size.

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

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
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
    # One core segments articles (the rule splitter since issue 19) slower than a GPU scores
    # their sentences, hence worker processes there (docs/benchmarks.md).
    workers: int = Field(0, ge=0, description="processes that segment articles while the model runs; 0 = none, "
                                              "segment in this process")


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


Predict = Callable[[list[str], list[tuple[str, str]]], "object"]  # texts, contexts -> (n, 3) probabilities
LOOKAHEAD = 16  # documents in flight per segmentation worker


def document_sentences(doc: Document, config: SegmentConfig, boilerplate: list[re.Pattern]) -> Iterable[Sentence]:
    if doc.sentences is not None:
        return doc.sentences
    return segment_article(doc, config, boilerplate)


def segmented(documents: Iterable[Document], segment_config: SegmentConfig, boilerplate: list[re.Pattern],
              workers: int = 0) -> Iterator[tuple[Document, Iterable[Sentence]]]:
    """Each document with its sentences, in input order. With workers, articles are segmented in
    that many processes, at most LOOKAHEAD documents per worker ahead of the consumer, so memory
    stays bounded and the model scores one window while the next is segmented. As with
    `read_documents`, a pre-split document's sentences are read lazily: consume them before
    asking for the next document."""
    if not workers:
        for doc in documents:
            yield doc, document_sentences(doc, segment_config, boilerplate)
        return
    pool = None  # started at the first article to segment: pre-split input needs none
    ahead: deque[tuple[Document, Future]] = deque()
    try:
        for doc in documents:
            if doc.sentences is not None:
                # Pre-split: nothing to segment. Its sentences stream from a file shared with
                # the next documents, so it goes out (after those ahead of it) before the next is read.
                while ahead:
                    yield _finished(ahead.popleft())
                yield doc, doc.sentences
                continue
            pool = pool or _segmentation_pool(workers)
            ahead.append((doc, pool.submit(document_sentences, doc, segment_config, boilerplate)))
            if len(ahead) > workers * LOOKAHEAD:
                yield _finished(ahead.popleft())
        while ahead:
            yield _finished(ahead.popleft())
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def _finished(job: tuple[Document, Future]) -> tuple[Document, list[Sentence]]:
    doc, sentences = job
    return doc, sentences.result()


def _segmentation_pool(workers: int):
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold CUDA state or thread pools that a fork copies half-made.
    # Workers ignore Ctrl-C: the parent alone stops the run, without a traceback per worker.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))


def score_documents(config: ScoreConfig, documents: Iterable[Document], predict_proba: Predict,
                    segment_config: SegmentConfig, boilerplate: list[re.Pattern], model: str = "") -> Iterator[ScoredWindow]:
    """Score every sentence of every document; yields one ScoredWindow per model call."""
    pending: list[Sentence] = []
    contexts: list[tuple[str, str]] = []  # (headline, previous sentence) of each pending sentence
    open_articles: dict[str, ArticleSummary] = {}
    closed: list[str] = []

    def flush() -> ScoredWindow:
        probs = predict_proba([s.text for s in pending], list(contexts)) if pending else []
        rows = sentence_rows(pending, probs, {aid: summary.article_sha1 for aid, summary in open_articles.items()})
        for row in rows:
            open_articles[row["article_id"]].add(row)
        finished = [open_articles.pop(aid).row() for aid in closed]
        pending.clear()
        contexts.clear()
        closed.clear()
        return ScoredWindow(rows, finished)

    for doc, sentences in segmented(documents, segment_config, boilerplate, config.workers):
        open_articles[doc.article_id] = ArticleSummary(doc.article_id, doc.source, doc.digest, model)
        headline = previous = None
        for sentence in sentences:  # the context the model was trained with: pipeline.schema.with_context
            contexts.append((headline or "", previous or ""))
            headline, previous = headline if headline is not None else sentence.text, sentence.text
            pending.append(sentence)
            if len(pending) >= config.window:
                yield flush()
        closed.append(doc.article_id)
    if pending or closed:
        yield flush()


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
