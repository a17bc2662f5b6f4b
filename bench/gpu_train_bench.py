"""The GPU training path, checked and timed: `train_classifier` with `train.device: cuda`
(bf16, `train.gpu_batch_size`) on the same training set as `stance train`, then the
held-out test article scored through StanceClassifier, beside the CPU model's figures.

    python bench/gpu_train_bench.py --out /tmp/gpu_train   # on a machine with a GPU

Needs data/labeled.jsonl and data/splits.jsonl (`dvc repro split`) and the base model
(`--base-model`, a folder, when the bundled package is not installed). Results:
OUT/gpu_train.json. Training on a GPU is seeded but not bit-for-bit deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from pipeline.classifier import StanceClassifier
    from pipeline.config import load_params
    from pipeline.authored import load_authored
    from pipeline.io import read_jsonl
    from pipeline.labels import LABELS
    from pipeline.schema import gold, records_in, training_records, with_context
    from pipeline.training import train_classifier, training_set

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", help="base model folder [default: train.base_model of the params]")
    parser.add_argument("--cpu-train", type=Path, default=ROOT / "metrics" / "train.json",
                        help="the CPU training run's metrics/train.json, for its figures")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-steps", type=int, default=-1, help="a few steps for a quick check of the script")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    params = load_params(ROOT / "configs" / "params.yaml")
    config = params.train.model_copy(update={"device": args.device, **({"base_model": args.base_model} if args.base_model else {})})
    records = list(read_jsonl(ROOT / "data" / "labeled.jsonl"))
    splits = list(read_jsonl(ROOT / "data" / "splits.jsonl"))
    rows = training_set(config, with_context(training_records(records, splits, config.use_weak_labels), records),
                        load_authored([ROOT / p for p in params.corpus.paths]) if config.use_authored else [])
    test = with_context(gold(records_in("test", records, splits)), records)
    result = train_classifier(config, rows, max_steps=args.max_steps)

    classifier = StanceClassifier(result.model.to(args.device), result.tokenizer, max_length=config.max_length,
                                  context=config.context)
    truth = [r["label"] for r in test]
    predicted = [p.label for p in classifier.predict([r["text"] for r in test], contexts=[tuple(r["context"]) for r in test])]
    report = {
        "train_sentences": result.train_sentences, "epochs": config.epochs, "max_steps": args.max_steps,
        "batch_size": config.gpu_batch_size if args.device == "cuda" else config.batch_size,
        "train_seconds": round(result.train_seconds, 2),
        "train_sentences_per_s": None if args.max_steps > 0 else round(result.train_sentences * config.epochs / result.train_seconds, 1),
        "history": result.history,
        "test_article": {"sentences": len(test), "accuracy": round(accuracy_score(truth, predicted), 4),
                         "macro_f1": round(f1_score(truth, predicted, labels=list(LABELS), average="macro",
                                                    zero_division=0), 4)},
    }
    if args.cpu_train.exists():
        cpu = json.loads(args.cpu_train.read_text())
        report["cpu_model"] = {"train_seconds": cpu.get("train_seconds"), "history": cpu.get("history")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_train.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
