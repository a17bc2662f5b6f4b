"""Screen a training recipe on the real-news dev set: train it exactly as the `train` stage
would (pipeline/training.py `datasets`: the seed train split and the recipe's authored corpus
files, less the held-out validation disputes; the temperature fitted on those), then score
the dev set through `stance eval-set`'s code. One line per run is appended to
bench/results/screens.jsonl (macro-F1 on all rows, on sure rows and per domain, the expected
calibration error, the training time); the model and its dev-set probabilities are kept in
bench/results/models/NAME-seedN for error analysis and for `--ensemble`.

    python bench/screen.py NAME [NAME ...] [--devset ../shared/devset/devset.jsonl] [--seed 42]
    python bench/screen.py --ensemble v2-seed42 v2-seed1 v2-seed2   # average kept models' probabilities

Recipes are named in configs/screens.yaml. About 10 minutes a recipe on the 2-core CPU
(20 with context). Needs data/labeled.jsonl and data/splits.jsonl (`dvc repro split`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def _row(name: str, report: dict, **extra) -> dict:
    return {"recipe": name, **extra, "sure_macro_f1": report["sure"]["macro_f1"],
            "all_macro_f1": report["all"]["macro_f1"], "ece_sure": report["sure"]["ece"], "ece": report["all"]["ece"],
            "domains_sure": {g: v["sure_macro_f1"] for g, v in report["groups"].items()}}


def run(name: str, recipe: dict, devset: Path, seed: int | None, threads: int | None = None) -> dict:
    from pipeline import evalset
    from pipeline.classifier import StanceClassifier
    from pipeline.config import load_params
    from pipeline.training import datasets, temperature_of
    from pipeline.training import save_model, train_classifier

    params = load_params(ROOT / "configs" / "params.yaml")
    config = params.train.model_copy(update={**recipe.get("train", {}), **({"seed": seed} if seed is not None else {}),
                                        **({"threads": threads} if threads is not None else {})})
    corpus = recipe.get("corpus", params.corpus.paths)
    params = params.model_copy(update={"train": config, "corpus": params.corpus.model_copy(update={"paths": corpus})})
    rows, valid, _ = datasets(params)
    if "teacher" in recipe:  # distillation: learn a kept model's probabilities, mixed with the gold label
        distil(rows, recipe["teacher"]["model"], recipe["teacher"]["weight"])
    started = time.perf_counter()
    # the validation disputes are evaluated each epoch as in the stage, which moves the random
    # stream: with them, seed 42 of `v2` is byte for byte the model `dvc repro` trains
    result = train_classifier(config, rows, valid or None)
    seconds = time.perf_counter() - started
    temperature = temperature_of(config, result, valid)
    folder = RESULTS / "models" / f"{name}-seed{config.seed}"
    save_model(result, folder, {"max_length": config.max_length, "context": config.context, "temperature": temperature})
    classifier = StanceClassifier.load(folder, device="cpu")
    eval_rows = evalset.read_eval_set(devset)
    probs = classifier.predict_proba([r.text for r in eval_rows], contexts=evalset.contexts_of(eval_rows))
    np.save(folder / "devset_probs.npy", probs)
    report, _ = evalset.evaluate_rows(eval_rows, probs)
    return _row(name, report, seed=config.seed, overrides=recipe.get("train", {}), corpus=list(map(str, corpus)),
                **({"teacher": recipe["teacher"]} if "teacher" in recipe else {}),
                train_rows=len(rows), train_seconds=round(seconds), temperature=round(temperature, 3))


def distil(rows: list[dict], teacher: str, weight: float) -> None:
    """Give every row a `target`: `weight` of the kept model `teacher`'s calibrated probabilities
    plus the rest of its gold label. The teacher's probabilities are cached in its folder."""
    import hashlib

    from pipeline.classifier import StanceClassifier
    from pipeline.labels import LABELS

    folder = RESULTS / "models" / teacher
    cache_file = folder / "train_probs.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    missing = sorted({r["text"] for r in rows if key(r["text"]) not in cache})
    if missing:
        probs = StanceClassifier.load(folder, device="cpu").predict_proba(missing)
        cache.update({key(t): [round(float(x), 6) for x in p] for t, p in zip(missing, probs)})
        cache_file.write_text(json.dumps(cache, sort_keys=True))
    for r in rows:
        r["target"] = [weight * t + (1 - weight) * float(lab == r["label"]) for t, lab in zip(cache[key(r["text"])], LABELS)]


def ensemble(folders: list[str], devset: Path) -> dict:
    """The dev-set figures of the mean of kept models' (calibrated) probabilities."""
    from pipeline import evalset

    probs = np.mean([np.load(RESULTS / "models" / f / "devset_probs.npy") for f in folders], axis=0)
    report, _ = evalset.evaluate_rows(evalset.read_eval_set(devset), probs)
    return _row("ensemble:" + "+".join(folders), report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="recipes, or with --ensemble kept model folders")
    parser.add_argument("--ensemble", action="store_true", help="average the named kept models' dev-set probabilities")
    parser.add_argument("--devset", type=Path, default=ROOT.parent / "shared" / "devset" / "devset.jsonl")
    parser.add_argument("--seed", type=int, default=None, help="training seed [default: train.seed]")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (two screens side by side: 1 each) "
                        "[default: train.threads]")
    args = parser.parse_args()
    if args.ensemble:
        row = ensemble(args.names, args.devset)
        with open(RESULTS / "screens.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row))
        return
    recipes = yaml.safe_load((ROOT / "configs" / "screens.yaml").read_text())
    unknown = [n for n in args.names if n not in recipes]
    if unknown:
        parser.error(f"not in configs/screens.yaml: {', '.join(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        row = run(name, recipes[name], args.devset, args.seed, args.threads)
        with open(RESULTS / "screens.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row))


if __name__ == "__main__":
    main()
