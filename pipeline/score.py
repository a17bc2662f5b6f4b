"""Stage `score`: new articles -> the stance of every sentence, and a summary per article.

The same segmentation as the `segment` stage and the same StanceClassifier as
`evaluate`. Streaming: articles are segmented and their sentences tokenised (in
`workers` processes, or in this one), gathered across articles into windows of
`window` sentences, each window is predicted in length-sorted batches, and its rows
are yielded together with the summaries of the articles it finished. Memory holds
one window, the jobs in flight and one summary per unfinished article, whatever the
corpus size. Sentences travel as columns (`Block`), token ids as flat arrays, and with `jsonl`
the feed workers also encode each row's fixed part, so that less runs in the scoring process,
whose own time bounds what a GPU can be fed (docs/benchmarks.md, "Feeding a GPU").

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

import dataclasses
import functools
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import SegmentConfig
from pipeline.inputs import Document
from pipeline.labels import LABELS
from pipeline.segmentation import Sentence, segment_article
from pipeline.tables import JSON_ENCODER

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

    def add(self, label: str, p: float, text: str, sentence_id: str) -> None:
        """One sentence: its label and that label's (rounded) probability."""
        self.counts[label] += 1
        self.confidence_sum += p
        if label in ("accusation", "denial") and p > self.top.get(label, (-1.0,))[0]:
            self.top[label] = (p, text, sentence_id)

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
class Block:
    """Consecutive sentences as columns: the form they take between processes and through a
    window, since lists of strings and ints pickle and join far faster than an object per
    sentence, and a row is only made a dict where one is needed. `heads`: each sentence's
    JSONL row up to its text, made where the sentences are prepared (`with_heads`), so that
    writing a window's JSONL is joining strings."""

    article_id: list[str]
    sentence_id: list[str]
    index: list[int]
    paragraph: list[int | None]
    start: list[int | None]
    end: list[int | None]
    text: list[str]
    article_sha1: list[str]
    heads: list[str] | None = None

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def of(cls, sentences: Sequence[Sentence], article_sha1: str) -> Block:
        return cls([s.article_id for s in sentences], [s.sentence_id for s in sentences], [s.index for s in sentences],
                   [s.paragraph for s in sentences], [s.start for s in sentences], [s.end for s in sentences],
                   [s.text for s in sentences], [article_sha1] * len(sentences))

    def with_heads(self) -> Block:
        encode = JSON_ENCODER.encode  # the table writer's: the same bytes as a row written whole
        heads = [encode({"article_id": a, "sentence_id": s, "index": i, "paragraph": p, "start": b, "end": e,
                         "text": t})[:-1]
                 for a, s, i, p, b, e, t in zip(self.article_id, self.sentence_id, self.index, self.paragraph,
                                                self.start, self.end, self.text)]
        return dataclasses.replace(self, heads=heads)

    def cut(self, lo: int, hi: int) -> Block:
        if lo == 0 and hi >= len(self):
            return self
        return Block(*(None if column is None else column[lo:hi] for column in self._columns()))

    @classmethod
    def join(cls, blocks: list[Block]) -> Block:
        if not blocks:
            return cls([], [], [], [], [], [], [], [])
        if len(blocks) == 1:
            return blocks[0]
        columns = zip(*(b._columns() for b in blocks))
        return cls(*(None if None in parts else list(itertools.chain.from_iterable(parts)) for parts in columns))

    def _columns(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


EMPTY = Block([], [], [], [], [], [], [], [])
_PROBS = ", ".join(f'"p_{lab}": %r' for lab in LABELS)  # a row's middle, as the JSON encoder writes it


@dataclass
class ScoredWindow:
    """The sentences of one window, with their labels and (rounded) probabilities, in article
    order; `finished`: summaries of the articles whose last sentence is in it or earlier."""

    block: Block
    labels: list[str]
    probs: list[list[float]]  # in LABELS order, rounded to 6 places (round6)
    finished: list[dict]

    @functools.cached_property
    def rows(self) -> list[dict]:
        """Sentence rows (SENTENCE_COLUMNS)."""
        columns = self.columns()
        return [dict(zip(columns, values)) for values in zip(*columns.values())]

    def jsonl(self) -> str:
        """The rows as JSONL lines: the bytes the table writer gives `rows`."""
        heads = (self.block.heads if self.block.heads is not None else self.block.with_heads().heads)
        tails = {sha: f', "article_sha1": {JSON_ENCODER.encode(sha)}}}\n' for sha in set(self.block.article_sha1)}
        middle = ', "label": "%s", ' + _PROBS
        return "".join([head + middle % (label, *ps) + tails[sha]
                        for head, label, ps, sha in zip(heads, self.labels, self.probs, self.block.article_sha1)])

    def columns(self) -> dict[str, list]:
        """The rows as columns (SENTENCE_COLUMNS), for Arrow."""
        b = self.block
        return {"article_id": b.article_id, "sentence_id": b.sentence_id, "index": b.index, "paragraph": b.paragraph,
                "start": b.start, "end": b.end, "text": b.text, "label": self.labels,
                **{f"p_{lab}": [ps[k] for ps in self.probs] for k, lab in enumerate(LABELS)},
                "article_sha1": b.article_sha1}


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
    block: Block  # an article's is EMPTY until it has been segmented
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


def prepare(parts: list[tuple[Document | None, Block | None, list[Context] | None]], encode: Callable,
            reads_context: bool, segment_config: SegmentConfig, boilerplate: list[re.Pattern],
            heads: bool = False) -> list[tuple[Block, list]]:
    """One feed job. Each part is an article (document, None, None) or some pre-split sentences
    with their contexts (None, block, contexts); for each, its sentences (with their JSONL
    heads if `heads`) and their encoding, all encoded in one call."""
    blocks: list[Block] = []
    texts: list[str] = []
    contexts: list[Context] | None = [] if reads_context else None
    for doc, block, part_contexts in parts:
        if block is None:
            sentences = list(segment_article(doc, segment_config, boilerplate))
            block = Block.of(sentences, doc.digest)
            part_contexts = contexts_of(sentences, [None, None]) if reads_context else None
        blocks.append(block.with_heads() if heads else block)
        texts.extend(block.text)
        if contexts is not None:
            contexts.extend(part_contexts)
    encoded = encode(texts, contexts) if texts else []
    out, at = [], 0
    for block in blocks:
        out.append((block, encoded[at:at + len(block)]))
        at += len(block)
    return out


def pieces(documents: Iterable[Document], scorer: Scorer, segment_config: SegmentConfig,
           boilerplate: list[re.Pattern], workers: int = 0, heads: bool = False) -> Iterator[Piece]:
    """The sentences of every document, encoded, in input order. With workers, articles are
    segmented and encoded, and pre-split sentences encoded, in that many processes, at most
    LOOKAHEAD jobs per worker ahead of the consumer, so memory stays bounded and the model
    scores one window while the next is prepared. A pre-split document's sentences are read to
    the end before the next document is read (`read_documents` streams them). `heads`: each
    piece's block carries its sentences' JSONL heads, made where the sentences are prepared."""
    # what a worker needs, sent once as it starts: the encoder (with its tokenizer), not the model
    state = (scorer.encode, scorer.reads_context, segment_config, boilerplate, heads)
    pool = _feed_pool(workers, state) if workers else None
    ahead: deque[tuple[list[Piece], object]] = deque()  # jobs in input order: their pieces, result or Future
    job: list[Piece] = []
    parts: list[tuple] = []  # what the job sends: see `prepare`
    size = 0  # the job's sentences (an article's estimated from its length)

    def add(piece: Piece, contexts: list[Context] | None = None) -> Iterator[Piece]:
        nonlocal size
        job.append(piece)
        # a worker gets what it works on: an article's document, or pre-split sentences
        if piece.doc.sentences is None:
            parts.append((piece.doc, None, None))
            size += len(piece.doc.text or "") / CHARS_PER_SENTENCE
        else:
            parts.append((None, piece.block, contexts))
            size += len(piece.block)
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
                yield from add(Piece(doc, EMPTY, [], True, True))
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
                    yield from add(Piece(doc, Block.of(chunk, doc.digest), [], first, end), contexts)
                    first, chunk = False, []
        yield from send()
        while ahead:
            yield from _resolved(*ahead.popleft())
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def _resolved(job: list[Piece], result) -> Iterator[Piece]:
    if isinstance(result, Future):  # from a worker: (blocks or heads, packed encodings); see _in_worker
        made, packed = result.result()
        result = [(item if isinstance(item, Block) else dataclasses.replace(piece.block, heads=item), encoded)
                  for piece, item, encoded in zip(job, made, _unpack(packed))]
    for piece, (block, encoded) in zip(job, result):
        piece.block, piece.encoded = block, encoded
        yield piece


# A feed worker's (encode, reads_context, segmentation config, boilerplate, heads), set once when
# it starts: the encoder holds the tokenizer, too large to send with every job.
_WORKER_STATE: tuple = ()


def _start_feed_worker(state: tuple) -> None:
    import signal

    global _WORKER_STATE
    _WORKER_STATE = state
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone stops the run, without a traceback per worker


def _in_worker(parts: list[tuple]) -> tuple[list, object]:
    """`prepare`, and what goes back: an article's sentences, but of pre-split sentences (which
    the scoring process has) only their heads; the encodings packed."""
    prepared = prepare(parts, *_WORKER_STATE)
    made = [block if sent is None else block.heads for (_, sent, _), (block, _) in zip(parts, prepared)]
    return made, _pack([encoded for _, encoded in prepared])


def _pack(encoded: list[list]) -> object:
    """Each part's Tokens as flat arrays, if that is what they are: a list of small int lists
    costs the scoring process some microseconds a sentence to unpickle, an array next to
    nothing (docs/benchmarks.md). Anything else an encoder makes travels as it is."""
    items = [item for part in encoded for item in part]
    if not items or not all(type(item) is tuple and len(item) == 2 and type(item[0]) is list for item in items):
        return encoded
    types = [item[1] for item in items]
    if not (all(t is None for t in types) or all(type(t) is list for t in types)):
        return encoded
    ids = [item[0] for item in items]
    return (np.fromiter(map(len, ids), np.int32, len(ids)), np.fromiter(itertools.chain.from_iterable(ids), np.int32),
            None if types[0] is None else np.fromiter(itertools.chain.from_iterable(types), np.int8),
            [len(part) for part in encoded])


def _unpack(packed: object) -> list[list]:
    if isinstance(packed, list):
        return packed
    lengths, ids, types, parts = packed
    ends = np.cumsum(lengths).tolist()
    bounds = list(zip([0, *ends[:-1]], ends))
    ids = ids.tolist()
    types = types.tolist() if types is not None else None
    items = [(ids[a:b], None if types is None else types[a:b]) for a, b in bounds]
    cuts = list(itertools.accumulate(parts, initial=0))
    return [items[a:b] for a, b in zip(cuts, cuts[1:])]


def _feed_pool(workers: int, state: tuple):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold CUDA state or thread pools that a fork copies half-made.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_feed_worker, initargs=(state,))


def finish_window(block: Block, probs, open_articles: dict[str, ArticleSummary], closed_ids: list[str]) -> ScoredWindow:
    """A predicted window: its labels and rounded probabilities from the (n, 3) `probs`, each
    sentence added to its article's summary; the summaries of `closed_ids` are finished."""
    labels, rounded = [], []
    if len(block):
        probs = np.asarray(probs)
        ids = probs.argmax(axis=1).tolist()
        labels = [LABELS[i] for i in ids]
        rounded = round6(probs)
        for aid, label, i, ps, text, sid in zip(block.article_id, labels, ids, rounded, block.text, block.sentence_id):
            open_articles[aid].add(label, ps[i], text, sid)
    return ScoredWindow(block, labels, rounded, [open_articles.pop(aid).row() for aid in closed_ids])


def round6(probs: np.ndarray) -> list[list[float]]:
    """`round(p, 6)` of each probability, as lists. A float32's x * 1e6 is exact in float64 (24
    + 14 bits), so numpy's rint(x * 1e6) / 1e6 rounds as Python's `round` does, at a fraction of
    its cost (tested); other dtypes go through `round`."""
    if probs.dtype == np.float32:
        return np.round(probs.astype(np.float64), 6).tolist()
    return [[round(p, 6) for p in ps] for ps in probs.tolist()]


def score_documents(config: ScoreConfig, documents: Iterable[Document], scorer: Scorer,
                    segment_config: SegmentConfig, boilerplate: list[re.Pattern], model: str = "",
                    jsonl: bool = False) -> Iterator[ScoredWindow]:
    """Score every sentence of every document; yields one ScoredWindow per `window` sentences
    (the last one shorter), each predicted in one `scorer.predict` call. With `config.ahead`,
    a window is predicted in a thread while the one before is turned into rows and written.
    `jsonl`: the windows will be written as JSONL, so their rows' fixed parts are encoded where
    the sentences are prepared (in the feed workers, when there are any)."""
    pending: list[Block] = []
    size = 0  # sentences pending
    encoded: list = []
    open_articles: dict[str, ArticleSummary] = {}
    closed: list[str] = []
    predictor = ThreadPoolExecutor(1, thread_name_prefix="stance-predict") if config.ahead else None
    in_flight: deque[tuple[Block, object, list[str]]] = deque()

    def start() -> Iterator[ScoredWindow]:
        nonlocal size
        tokens = list(encoded)
        probs = [] if not tokens else predictor.submit(scorer.predict, tokens) if predictor else scorer.predict(tokens)
        in_flight.append((Block.join(pending), probs, list(closed)))
        pending.clear()
        encoded.clear()
        closed.clear()
        size = 0
        while len(in_flight) > (1 if predictor else 0):
            yield finish(*in_flight.popleft())

    def finish(block: Block, probs, closed_ids: list[str]) -> ScoredWindow:
        return finish_window(block, probs.result() if isinstance(probs, Future) else probs, open_articles, closed_ids)

    try:
        for piece in pieces(documents, scorer, segment_config, boilerplate, config.workers, jsonl):
            doc = piece.doc
            if piece.first:
                open_articles[doc.article_id] = ArticleSummary(doc.article_id, doc.source, doc.digest, model)
            done = 0
            while done < len(piece.block):
                take = min(config.window - size, len(piece.block) - done)
                pending.append(piece.block.cut(done, done + take))
                encoded.extend(piece.encoded[done:done + take])
                done += take
                size += take
                if size >= config.window:
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
