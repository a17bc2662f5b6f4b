"""Cheap screens of what could make the model read real news from unseen disputes better,
on the closest proxy this repo has for that: the 87 real seed-gold sentences scored by a
model trained on the authored corpus only (no seed article, so no seed dispute). One
model costs about 2.5 minutes on the 2-core CPU, against 21 for a leave-one-article-out
unit of bench/recipe_seeds.py; a candidate that wins here, at several seeds, earns that run.

    python bench/screen_heads.py finetune --seeds 42 1 2                      # the pipeline's recipe
    python bench/screen_heads.py finetune --seeds 42 1 2 --add-corpus bench/screens/authored_batch4.jsonl
    python bench/screen_heads.py finetune --seeds 42 --recipe '{"epochs": 3}'
    python bench/screen_heads.py finetune-mean --seeds 42 1 2                 # mean pooling head
    python bench/screen_heads.py frozen                                       # no fine-tuning

- finetune: `fit_model` on `training_set` of the authored corpus, exactly as
  `stance generalize` trains its authored-only model (seed 42 is metrics/generalization.json).
- finetune-mean: the same data and optimiser settings, in a plain torch loop, with the
  classifier on the mean of the last layer's token vectors (the pooling all-MiniLM-L6-v2
  was trained with) instead of BERT's [CLS] pooler.
- frozen: no fine-tuning; logistic regression on the base model's normalised sentence
  vectors (mean or [CLS]), deterministic, run through the pipeline's own `generalisation`
  (authored only -> seed gold; leave-disputes-out, the `generalize` folds) and
  `cross_validate` (leave one seed article out, trained on the authored corpus + the
  other four articles), so it sits beside the shipped figures on the same folds.

One JSON line per result on stdout. Not a pipeline stage; docs/results.md reports the runs.
Needs data/labeled.jsonl (`dvc repro label`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def finetune(params, authored: list[dict], gold: list[dict], seed: int, overrides: dict) -> list[str]:
    from pipeline.evaluate import fit_model
    from pipeline.train import training_set

    cfg = params.train.model_copy(update={**overrides, "seed": seed, "use_authored": True})
    return fit_model(cfg, training_set(cfg, [], authored), None)([r["text"] for r in gold])


def load_encoder(base_model: str):
    """The base model's tokenizer and bare encoder (no pooler, no head)."""
    from transformers import AutoModel, AutoTokenizer

    from pipeline.classifier import resolve_base_model

    base = resolve_base_model(base_model)
    return (AutoTokenizer.from_pretrained(base),
            AutoModel.from_pretrained(base, use_safetensors=True, add_pooling_layer=False))


def mean_of_tokens(hidden, attention_mask):
    """The sentence vector all-MiniLM-L6-v2 was trained to give: the mean over real tokens."""
    mask = attention_mask.unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1)


def finetune_mean(params, authored: list[dict], gold: list[dict], seed: int, overrides: dict) -> list[str]:
    import torch
    from transformers import get_linear_schedule_with_warmup, set_seed

    from pipeline.classifier import set_threads
    from pipeline.labels import LABEL2ID, LABELS
    from pipeline.train import class_weights

    cfg = params.train.model_copy(update=overrides)
    set_threads(cfg.threads)
    set_seed(seed)
    tokenizer, encoder = load_encoder(cfg.base_model)
    head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(encoder.config.hidden_size, len(LABELS)))

    def logits(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=cfg.max_length, return_tensors="pt")
        return head(mean_of_tokens(encoder(**batch).last_hidden_state, batch["attention_mask"]))

    texts, labels = [r["text"] for r in authored], torch.tensor([LABEL2ID[r["label"]] for r in authored])
    weights = torch.tensor(class_weights([r["label"] for r in authored]) if cfg.class_weighting else [1.0] * len(LABELS),
                           dtype=torch.float32)
    parameters = list(encoder.parameters()) + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-len(texts) // cfg.batch_size)
    schedule = get_linear_schedule_with_warmup(optimiser, int(cfg.warmup_ratio * steps), steps)
    order_rng = torch.Generator().manual_seed(seed)
    encoder.train(), head.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(texts), generator=order_rng).tolist()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            loss = torch.nn.functional.cross_entropy(logits([texts[i] for i in idx]), labels[idx], weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    encoder.eval(), head.eval()
    with torch.no_grad():
        gold_texts = [r["text"] for r in gold]
        ids = [i for start in range(0, len(gold_texts), 32) for i in logits(gold_texts[start:start + 32]).argmax(-1).tolist()]
    return [LABELS[i] for i in ids]


def sentence_vectors(base_model: str, texts: list[str], max_length: int) -> dict:
    """Normalised sentence vectors of the frozen encoder, by pooling: "mean" and "cls"."""
    import numpy as np
    import torch

    tokenizer, encoder = load_encoder(base_model)
    encoder.eval()
    out = {"mean": [], "cls": []}
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            for pooling, vec in (("mean", mean_of_tokens(hidden, batch["attention_mask"])), ("cls", hidden[:, 0])):
                out[pooling].append(torch.nn.functional.normalize(vec, dim=-1).numpy())
    return {pooling: np.concatenate(parts) for pooling, parts in out.items()}


def frozen_fit(vectors: dict, c: float):
    """A `fit` for the pipeline's evaluation loops: logistic regression on the frozen vectors
    (text -> vector) of the training rows; the config and batch size do not apply."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    def fit(config, train: list[dict], batch_size):
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(
            np.stack([vectors[r["text"]] for r in train]), [r["label"] for r in train])
        return lambda texts: list(model.predict(np.stack([vectors[t] for t in texts])))
    return fit


def frozen(params, authored: list[dict], gold: list[dict], c_values: list[float]) -> list[dict]:
    """Logistic regression on frozen sentence vectors, through the pipeline's own loops:
    `generalisation` (seed gold from authored only; leave-disputes-out, the `generalize`
    folds) and `cross_validate` (leave one seed article out, trained on the authored corpus
    + the other four articles, once each: no swaps, no repeats)."""
    from pipeline.evaluate import cross_validate, generalisation

    texts = list(dict.fromkeys(r["text"] for r in authored + gold))
    loao = params.train.model_copy(update={"use_authored": True, "augment_swaps": 0, "real_news_repeats": 1})
    rows = []
    for pooling, matrix in sentence_vectors(params.train.base_model, texts, params.train.max_length).items():
        vectors = dict(zip(texts, matrix))
        for c in c_values:
            fit = frozen_fit(vectors, c)
            out = generalisation(params.train, params.evaluate, gold, authored, fit=fit, seed=params.split.seed)
            cv, _ = cross_validate({"frozen": loao}, params.evaluate, params.split, gold, authored=authored, fit=fit)
            on_gold = out["seed_gold"]["model"]
            rows.append({"head": "frozen", "pooling": pooling, "C": c,
                         "authored_only_on_seed_gold": on_gold["macro_f1"],
                         "f1": {k.removeprefix("f1_"): round(v, 3) for k, v in on_gold.items() if k.startswith("f1_")},
                         "leave_disputes_out_mean": out["leave_disputes_out"]["model"]["macro_f1_mean"],
                         "loao_pooled": cv["frozen"]["macro_f1_pooled"]})
    return rows


def main() -> None:
    from pipeline.config import load_params
    from pipeline.corpus import load_authored
    from pipeline.evaluate import score
    from pipeline.io import read_jsonl

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("head", choices=["finetune", "finetune-mean", "frozen"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--recipe", type=json.loads, default={}, help="JSON overrides of the train params")
    parser.add_argument("--corpus", type=Path, help="authored corpus to train on [default: corpus.path of the params]")
    parser.add_argument("--add-corpus", type=Path, action="append", default=[],
                        help="candidate authored rows to train on as well, e.g. bench/screens/authored_batch4.jsonl")
    parser.add_argument("--c", type=float, nargs="+", default=[1.0, 10.0], help="frozen: inverse regularisation")
    args = parser.parse_args()

    params = load_params(ROOT / "configs" / "params.yaml")
    authored = [r for path in [args.corpus or ROOT / params.corpus.path, *args.add_corpus] for r in load_authored(path)]
    gold = [r for r in read_jsonl(ROOT / "data" / "labeled.jsonl") if r["label_source"] == "gold"]
    if args.head == "frozen":
        for row in frozen(params, authored, gold, args.c):
            print(json.dumps(row), flush=True)
        return
    train = finetune if args.head == "finetune" else finetune_mean
    corpus = [str(path) for path in [args.corpus or params.corpus.path, *args.add_corpus]]
    for seed in args.seeds:
        started = time.perf_counter()
        predicted = train(params, authored, gold, seed, args.recipe)
        result = score([r["label"] for r in gold], predicted)
        print(json.dumps({"head": args.head, "recipe": args.recipe, "seed": seed, "corpus": corpus,
                          "authored_only_on_seed_gold": result["macro_f1"], "accuracy": result["accuracy"],
                          "f1": {k: round(v["f1"], 3) for k, v in result["per_class"].items()},
                          "seconds": round(time.perf_counter() - started)}), flush=True)


if __name__ == "__main__":
    main()
