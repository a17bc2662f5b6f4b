"""Screen a training recipe on the real-news dev set: train it as `stance train` would (the
seed train split + the recipe's authored corpus files), then score the dev set through
`stance eval-set`'s code. One line per run is appended to bench/results/screens.jsonl
(macro-F1 on all rows, on sure rows and per domain, the expected calibration error, the
training time), and the model is kept in bench/results/models/NAME for error analysis.

    python bench/screen.py NAME [NAME ...] [--devset ../shared/devset/devset.jsonl] [--seed 42]

Recipes are named in configs/screens.yaml. About 10 minutes a recipe on the 2-core CPU
(20 with context). Needs data/labeled.jsonl and data/splits.jsonl (`dvc repro split`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def run(name: str, recipe: dict, devset: Path, seed: int | None) -> dict:
    from pipeline import evalset
    from pipeline.authored import load_authored
    from pipeline.classifier import StanceClassifier
    from pipeline.config import load_params
    from pipeline.io import read_jsonl
    from pipeline.schema import training_records, with_context
    from pipeline.training import save_model, train_classifier, training_set

    params = load_params(ROOT / "configs" / "params.yaml")
    config = params.train.model_copy(update={**recipe.get("train", {}), **({"seed": seed} if seed is not None else {})})
    corpus = [ROOT / p for p in recipe.get("corpus", params.corpus.paths)]
    records = list(read_jsonl(ROOT / "data" / "labeled.jsonl"))
    splits = list(read_jsonl(ROOT / "data" / "splits.jsonl"))
    rows = training_set(config, with_context(training_records(records, splits, config.use_weak_labels), records),
                        load_authored(corpus))
    started = time.perf_counter()
    result = train_classifier(config, rows)
    seconds = time.perf_counter() - started
    folder = RESULTS / "models" / f"{name}-seed{config.seed}"
    save_model(result, folder, {"max_length": config.max_length, "context": config.context, "temperature": 1.0})
    classifier = StanceClassifier.load(folder, device="cpu")
    report, _ = evalset.score_file(devset, classifier)
    return {"recipe": name, "seed": config.seed, "overrides": recipe.get("train", {}),
            "corpus": [str(p.relative_to(ROOT)) for p in corpus], "train_rows": len(rows),
            "train_seconds": round(seconds), "sure_macro_f1": report["sure"]["macro_f1"],
            "all_macro_f1": report["all"]["macro_f1"], "ece": report["all"]["ece"],
            "domains_sure": {g: v["sure_macro_f1"] for g, v in report["groups"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--devset", type=Path, default=ROOT.parent / "shared" / "devset" / "devset.jsonl")
    parser.add_argument("--seed", type=int, default=None, help="training seed [default: train.seed]")
    args = parser.parse_args()
    recipes = yaml.safe_load((ROOT / "configs" / "screens.yaml").read_text())
    unknown = [n for n in args.names if n not in recipes]
    if unknown:
        parser.error(f"not in configs/screens.yaml: {', '.join(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        row = run(name, recipes[name], args.devset, args.seed)
        with open(RESULTS / "screens.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row))


if __name__ == "__main__":
    main()
