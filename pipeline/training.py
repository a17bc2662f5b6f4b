"""Fine-tuning: the base sentence encoder with a three-way stance head, from records.

Shared by the `train` stage and the research stages (crossval, generalize), so that every
figure is of the recipe that ships. Input: training records (`text`, `label`, and
`context` where the recipe reads context). Output: a TrainResult (model, tokenizer,
per-epoch curves). Seeded and deterministic on CPU; bf16 and larger batches on a GPU
(`train.precision` also forces fp32 or bf16). The loss is weighted by inverse class
frequency ("balanced") when `train.class_weighting` is on. With `train.frozen_layers` the
embeddings and the lowest encoder layers keep the base model's weights: the large encoder's
reading at a time that fits the 15-minute loop on a CPU (docs/results.md).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import ConfigError, Params, TrainConfig
from pipeline.labels import ID2LABEL, LABEL2ID, LABELS

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    model: object
    tokenizer: object
    history: list[dict] = field(default_factory=list)  # one dict of metrics per epoch
    train_seconds: float = 0.0
    train_sentences: int = 0


def class_weights(labels: list[str]) -> np.ndarray:
    """sklearn's 'balanced' weights in LABELS order; a class absent from training gets weight 1."""
    from sklearn.utils.class_weight import compute_class_weight

    present = [lab for lab in LABELS if lab in set(labels)]
    balanced = dict(zip(present, compute_class_weight("balanced", classes=np.array(present), y=np.array(labels))))
    return np.array([balanced.get(lab, 1.0) for lab in LABELS])


def _macro_f1(eval_pred) -> dict[str, float]:
    from sklearn.metrics import f1_score

    logits, labels = eval_pred
    return {"macro_f1": f1_score(labels, logits.argmax(-1), labels=list(range(len(LABELS))),
                                 average="macro", zero_division=0)}


def use_bf16(precision: str, on_gpu: bool) -> bool:
    """bf16 autocast: `auto` on a GPU only (on a CPU it gives other, not better, models; docs/results.md)."""
    return on_gpu if precision == "auto" else precision == "bf16"


def freeze(model, layers: int) -> None:
    """Keep the embeddings and the `layers` lowest encoder layers as the base model has them,
    and run them as at inference: no dropout. Nothing in them learns, so their dropout would
    only add noise to the upper layers' input, and its random masks are a fifth of a CPU
    training step (docs/benchmarks.md)."""
    import torch

    if not layers:
        return
    encoder = model.base_model.encoder.layer
    if layers > len(encoder):
        raise ConfigError(f"train.frozen_layers: {layers}, but the base model has {len(encoder)} layers")
    for module in (model.base_model.embeddings, *encoder[:layers]):
        module.requires_grad_(False)
        for part in module.modules():
            if isinstance(part, torch.nn.Dropout):
                part.p = 0.0  # a Dropout of p 0 returns its input untouched, in training too


def train_classifier(config: TrainConfig, train: list[dict], valid: list[dict] | None = None,
                     on_epoch: EpochCallback | None = None, max_steps: int = -1) -> TrainResult:
    """Fine-tune on `train` records; evaluate on `valid` after each epoch if given
    (for the curves only: nothing is selected on it)."""
    import time

    import torch
    from datasets import Dataset, disable_progress_bars
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              PrinterCallback, Trainer, TrainerCallback, TrainingArguments,
                              enable_full_determinism, set_seed)
    from transformers.utils import logging as hf_logging

    from pipeline.classifier import pick_device, resolve_base_model, second_segment, set_threads

    hf_logging.set_verbosity_error()  # the new head's "newly initialised" notice is expected
    hf_logging.disable_progress_bar()
    disable_progress_bars()

    device = pick_device(config.device)
    on_gpu = device.type == "cuda"
    bf16 = use_bf16(config.precision, on_gpu)
    set_threads(config.threads)
    if on_gpu:
        set_seed(config.seed)
    else:
        enable_full_determinism(config.seed)

    base = resolve_base_model(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
        use_safetensors=True, trust_remote_code=False)
    freeze(model, config.frozen_layers)

    def encode(records: list[dict], soft: bool = False) -> Dataset:
        # the same pairs as StanceClassifier.batches builds at inference
        pairs = [second_segment(tuple(r.get("context") or ("", "")), config.context) for r in records]
        labels = [LABEL2ID[r["label"]] for r in records]
        if soft:  # the probabilities to learn, then the gold label's class (its weight in the loss)
            labels = [[*(r.get("target") or [float(lab == r["label"]) for lab in LABELS]), LABEL2ID[r["label"]]]
                      for r in records]
        ds = Dataset.from_dict({"text": [r["text"] for r in records], "pair": pairs, "label": labels})
        if config.context == "none":
            tokenize = lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length)  # noqa: E731
        else:
            tokenize = lambda b: tokenizer(b["text"], b["pair"], truncation=True, max_length=config.max_length)  # noqa: E731
        return ds.map(tokenize, batched=True, remove_columns=["text", "pair"])

    weights = torch.tensor(class_weights([r["label"] for r in train]) if config.class_weighting
                           else np.ones(len(LABELS)), dtype=torch.float32)

    class WeightedTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            w = weights.to(outputs.logits.device)
            if labels.dim() == 2:  # soft targets, each sentence weighted by its gold class (as the hard loss does)
                target, gold = labels[:, :-1].float(), labels[:, -1].long()
                per_row = -(target * torch.log_softmax(outputs.logits.float(), dim=-1)).sum(-1)
                loss = (per_row * w[gold]).sum() / w[gold].sum()
            else:
                loss = torch.nn.functional.cross_entropy(outputs.logits, labels, weight=w)
            return (loss, outputs) if return_outputs else loss

    history: list[dict] = []

    class EpochLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            epoch = round(state.epoch or 0)
            row = {"train_loss": logs.get("loss")} if "loss" in logs else {}
            row.update({k.replace("eval_", "valid_"): v for k, v in logs.items() if k in ("eval_loss", "eval_macro_f1")})
            if not row:
                return
            if history and history[-1]["epoch"] == epoch:
                history[-1].update(row)
            else:
                history.append({"epoch": epoch, **row})

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, num_train_epochs=config.epochs, max_steps=max_steps,
            per_device_train_batch_size=config.gpu_batch_size if on_gpu else config.batch_size,
            per_device_eval_batch_size=64, learning_rate=config.learning_rate,
            lr_scheduler_type=config.lr_schedule,
            train_sampling_strategy="group_by_length" if config.group_by_length else "random",
            weight_decay=config.weight_decay, warmup_steps=float(config.warmup_ratio),
            eval_strategy="epoch" if valid else "no", logging_strategy="epoch", save_strategy="no",
            report_to="none", seed=config.seed, data_seed=config.seed, use_cpu=not on_gpu, bf16=bf16,
            disable_tqdm=True, dataloader_num_workers=0, full_determinism=not on_gpu)
        trainer = WeightedTrainer(
            model=model, args=args, train_dataset=encode(train, soft=any("target" in r for r in train)),
            eval_dataset=encode(valid) if valid else None,
            processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=_macro_f1, callbacks=[EpochLog()])
        trainer.remove_callback(PrinterCallback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    if on_epoch:
        for row in history:
            on_epoch(row["epoch"], {k: v for k, v in row.items() if k != "epoch" and v is not None})
    model.eval()
    return TrainResult(model.cpu() if on_gpu else model, tokenizer, history, seconds, len(train))


def training_set(config: TrainConfig, real_news: list[dict], authored: list[dict]) -> list[dict]:
    """What a model of this config trains on: the given real-news (seed article) records,
    each `real_news_repeats` times, the authored corpus when `use_authored`, and
    `augment_swaps` name-swapped copies of each real-news sentence, with names drawn from the
    authored disputes. The copies both weigh the few real-news sentences up against the
    authored corpus and break the link between a dispute's parties and its stance."""
    from pipeline.augment import augment, name_pools, with_dispute

    extra = list(authored) if config.use_authored else []
    rows = list(real_news) * config.real_news_repeats + extra
    if config.augment_swaps:
        articles = with_dispute(real_news)
        pools = name_pools(articles + extra)
        rows += augment(articles, config.augment_swaps, pools, config.seed)
    return rows


def seed_only(config: TrainConfig, epochs: int, learning_rate: float) -> TrainConfig:
    """The reference recipe: seed gold only, no authored corpus, no augmentation."""
    return config.model_copy(update={"use_authored": False, "augment_swaps": 0, "real_news_repeats": 1, "epochs": epochs,
                                     "learning_rate": learning_rate})


def save_model(result: TrainResult, out_dir, card: dict) -> None:
    """The model folder: safetensors weights, tokenizer, config.json (label map) and
    card.json. Nothing in it depends on when or where it was trained, so the same inputs
    give the same bytes."""
    import json
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    result.model.save_pretrained(out, safe_serialization=True)
    result.tokenizer.save_pretrained(out)
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def fit_temperature(logits: np.ndarray, labels: list[str]) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (temperature
    scaling: one scalar, so the ranking and the labels stay as they are)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    target = np.array([LABEL2ID[lab] for lab in labels])

    def nll(t: float) -> float:
        return float(-log_softmax(logits / t, axis=-1)[np.arange(len(target)), target].mean())

    return round(float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x), 4)


def fit_classifier(config: TrainConfig, rows: list[dict]):
    """A StanceClassifier fine-tuned on `rows` with `config`, held in memory (for the research
    stages, which retrain a recipe per fold); it predicts as the saved model would."""
    from pipeline.classifier import StanceClassifier

    result = train_classifier(config, rows)
    return StanceClassifier(result.model, result.tokenizer, max_length=config.max_length, context=config.context)


def datasets(params: Params) -> tuple[list[dict], list[dict], set[str]]:
    """(training rows, validation rows, held-out disputes) of the `train` stage: the seed train
    split and the authored corpus less `train.valid_disputes` disputes drawn with the seed,
    which are the validation rows. bench/screen.py trains its recipes on exactly these, so a
    screened figure is the shipped recipe's."""
    import random

    from pipeline import paths
    from pipeline.authored import load_authored
    from pipeline.io import read_jsonl
    from pipeline.schema import training_records, with_context

    cfg = params.train
    records, splits = list(read_jsonl(paths.LABELED)), list(read_jsonl(paths.SPLITS))
    authored = load_authored(params.corpus.paths) if cfg.use_authored else []
    disputes = sorted({r["dispute"] for r in authored})
    held_out = set(random.Random(cfg.seed).sample(disputes, min(cfg.valid_disputes, len(disputes) // 2)))
    valid = [r for r in authored if r["dispute"] in held_out]
    real_news = with_context(training_records(records, splits, cfg.use_weak_labels), records)
    return training_set(cfg, real_news, [r for r in authored if r["dispute"] not in held_out]), valid, held_out


def temperature_of(cfg: TrainConfig, result: TrainResult, valid: list[dict]) -> float:
    """The softmax temperature fitted on the held-out disputes (1.0 without `calibrate`)."""
    if not (cfg.calibrate and valid):
        return 1.0
    from pipeline.classifier import StanceClassifier

    classifier = StanceClassifier(result.model, result.tokenizer, max_length=cfg.max_length, context=cfg.context)
    logits = classifier.logits([r["text"] for r in valid], contexts=[tuple(r["context"]) for r in valid])
    return fit_temperature(logits, [r["label"] for r in valid])
