"""Training recipes compared over several training seeds. A single seed's figure moves
with the seed as much as with the recipe (the seed-only model's pooled leave-one-article-out
macro-F1 is 0.747 at seed 42 and 0.62 at seed 1), so recipes are compared on the spread
over seeds. One (recipe, seed) unit of the shipped recipe takes about 21 minutes on the
2-core CPU (training on the H100 of docs/benchmarks.md was 13x faster).

Each (recipe, seed) unit runs what `stance crossval` runs (`cross_validate`: the recipe and
the seed-only reference retrained per held-out seed article, pooled out-of-fold macro-F1)
and, with --lodo, what `stance generalize` runs (`generalisation`: leave-disputes-out over
the authored corpus, and the seed gold read by the recipe trained on authored data only).
A recipe is the params' `train` section with overrides; the seed changes the
initialisation, the data order and the name-swap draw together.

    python bench/recipe_seeds.py --seeds 42 1 2 3 --recipe shipped='{}'     # the CPU, ~21 min a unit
    python bench/recipe_seeds.py --from-crossval shipped --seeds 1 2 --recipe shipped='{}'   # seed 42 from dvc repro
    python bench/recipe_seeds.py --device cuda --base-model /tmp/base --seeds 42 1 2 \
        --recipe shipped='{}' --recipe epochs3='{"epochs": 3}' --lodo --out /tmp/screen

On the CPU a unit runs the pipeline's own code, deterministically (seed 42 of the shipped
recipe is `metrics/crossval.json`). On a GPU, training runs in bf16 with the CPU recipe's
batch size (`train.batch_size`), seeded but not bit-identical to the CPU: its figures are a
screen, reported as such (this path has not been run yet: no GPU was lent since it was written).

One JSON line per unit (with every out-of-fold label) is appended to
OUT/recipe_seeds.jsonl (default OUT: metrics/, where the reported run is kept in git) as
soon as it is done, so a run cut short keeps what it did; OUT/recipe_seeds.json then
summarises every recipe over its seeds (`--recipe` left out: only that), and `dvc metrics
show` lists it. Units that ran on other data or params are never summarised together.
Needs data/labeled.jsonl (`dvc repro label`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


UNITS, SUMMARY = "recipe_seeds.jsonl", "recipe_seeds.json"


def recipe_arg(text: str) -> tuple[str, dict]:
    name, _, overrides = text.partition("=")
    return name, json.loads(overrides or "{}")


def run_unit(name: str, overrides: dict, seed: int, base: dict, params, records: list[dict], authored: list[dict],
             lodo: bool) -> dict:
    """One recipe at one seed: leave-one-seed-article-out beside the seed-only reference
    trained at the same seed (and, with `lodo`, the out-of-dispute figures)."""
    from pipeline.evaluate import cross_validate, generalisation
    from pipeline.train import seed_only

    started = time.perf_counter()
    cfg = params.train.model_copy(update={**base, **overrides, "seed": seed})
    reference = seed_only(cfg, params.evaluate.seed_only_epochs, params.evaluate.seed_only_learning_rate)
    cv, predictions = cross_validate({"recipe": cfg, "seed_only": reference}, params.evaluate, params.split,
                                     records, [], authored if cfg.use_authored else [], reference="seed_only")
    row = {"recipe": name, "overrides": overrides, "seed": seed,
           "loao": {system: {k: cv[system][k] for k in ("macro_f1_pooled", "macro_f1_mean", "accuracy_pooled")}
                    for system in ("recipe", "seed_only")},
           "loao_per_fold": [{"recipe": f["recipe"]["macro_f1"], "seed_only": f["seed_only"]["macro_f1"]}
                             for f in cv["per_fold"]],
           "recipe_minus_seed_only": cv["recipe_minus_seed_only"],
           "labels": {p["sentence_id"]: [p["label"], p["recipe"], p["seed_only"]] for p in predictions}}
    if lodo:
        seed_gold = [r for r in records if r["label_source"] == "gold"]
        gen = generalisation(cfg, params.evaluate, seed_gold, authored, seed=params.split.seed)
        row["lodo"] = {s: gen["leave_disputes_out"][s]["macro_f1_mean"] for s in ("model", "seed_only")}
        row["authored_only_on_seed_gold"] = gen["seed_gold"]["model"]
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def unit_from_crossval(name: str, seed: int, crossval: dict, predictions: list[dict]) -> dict:
    """The unit of the shipped recipe at the pipeline's seed, from what `stance crossval`
    wrote (metrics/crossval.json and its out-of-fold labels) instead of retraining it:
    `run_unit` at that seed reproduces those files exactly, so this saves a unit's 21 minutes."""
    systems = {"recipe": "shipped", "seed_only": "seed_only"}
    return {"recipe": name, "overrides": {}, "seed": seed,
            "loao": {mine: {k: crossval[theirs][k] for k in ("macro_f1_pooled", "macro_f1_mean", "accuracy_pooled")}
                     for mine, theirs in systems.items()},
            "loao_per_fold": [{mine: f[theirs]["macro_f1"] for mine, theirs in systems.items()}
                              for f in crossval["per_fold"]],
            "recipe_minus_seed_only": crossval["shipped_minus_seed_only"],
            "labels": {p["sentence_id"]: [p["label"], p["shipped"], p["seed_only"]] for p in predictions},
            "from": "metrics/crossval.json"}


def crossval_unit(name: str, seed: int) -> dict:
    """`unit_from_crossval` of the files in metrics/, once `dvc status` says they are current."""
    import subprocess

    from pipeline.io import read_jsonl

    stale = subprocess.run(["dvc", "status", "crossval", "--json"], cwd=ROOT, capture_output=True, text=True)
    if stale.returncode or json.loads(stale.stdout or "{}"):
        raise SystemExit("--from-crossval: the crossval stage is not up to date; run `dvc repro crossval` first")
    crossval = json.loads((ROOT / "metrics" / "crossval.json").read_text())
    return unit_from_crossval(name, seed, crossval, list(read_jsonl(ROOT / "metrics" / "crossval_predictions.jsonl")))


def summarise_units(units: list[dict], resamples: int, seed: int) -> dict:
    """Per recipe, over its seeds: the pooled out-of-fold macro-F1 of the recipe and of the
    seed-only reference per seed, mean and std, and the seed-averaged difference with a
    bootstrap interval over the sentences."""
    import numpy as np

    from pipeline.evaluate import paired_bootstrap

    summary = {}
    for name in dict.fromkeys(u["recipe"] for u in units):
        mine = sorted((u for u in units if u["recipe"] == name), key=lambda u: u["seed"])
        ids = sorted(mine[0]["labels"])
        if any(sorted(u["labels"]) != ids or u["inputs"] != mine[0]["inputs"] for u in mine):
            raise SystemExit(f"{UNITS}: recipe {name} has units that ran on different inputs (data, params or device); "
                             "move the old units out of the file (git keeps them) or give the new runs another name")
        if len({u["seed"] for u in mine}) < len(mine):
            raise SystemExit(f"{UNITS}: recipe {name} has two units of one seed; a seed counts once (remove the repeat)")
        truth = [mine[0]["labels"][i][0] for i in ids]
        runs = {system: [[u["labels"][i][col] for i in ids] for u in mine] for col, system in ((1, "recipe"), (2, "seed_only"))}
        entry = {"overrides": mine[0]["overrides"], "seeds": [u["seed"] for u in mine], "sentences": len(ids)}
        for system in runs:
            per_seed = [u["loao"][system]["macro_f1_pooled"] for u in mine]
            entry[system] = {"macro_f1_pooled_per_seed": per_seed, "macro_f1_pooled_mean": round(float(np.mean(per_seed)), 4),
                             "macro_f1_pooled_std": round(float(np.std(per_seed)), 4)}
        entry["recipe_minus_seed_only"] = paired_bootstrap(truth, runs["recipe"], runs["seed_only"], resamples, seed)
        entry["seeds_recipe_ahead"] = sum(u["recipe_minus_seed_only"]["macro_f1_pooled"] > 0 for u in mine)
        if all("lodo" in u for u in mine):
            entry["lodo_mean"] = {s: round(float(np.mean([u["lodo"][s] for u in mine])), 4) for s in ("model", "seed_only")}
        summary[name] = entry
    return summary


def run_units(args: argparse.Namespace, params) -> None:
    """Every (seed, recipe) unit asked for, each appended to OUT/recipe_seeds.jsonl when done."""
    from pipeline.classifier import pick_device
    from pipeline.corpus import load_authored
    from pipeline.io import file_md5, read_jsonl

    records = list(read_jsonl(ROOT / "data" / "labeled.jsonl"))
    authored = load_authored(ROOT / params.corpus.path)
    # what a unit ran on, so that units of other data, params or devices are never summarised together
    inputs = {"device": pick_device(args.device).type, "labeled_md5": file_md5(ROOT / "data" / "labeled.jsonl"),
              "authored_md5": file_md5(ROOT / params.corpus.path),
              "train": params.train.model_dump(exclude={"device", "gpu_batch_size", "threads", "seed", "base_model"}),
              "evaluate": params.evaluate.model_dump(include={"seed_only_epochs", "seed_only_learning_rate"})}
    base = {"device": args.device, "gpu_batch_size": params.train.batch_size,
            **({"base_model": args.base_model} if args.base_model else {})}
    if args.from_crossval:
        row = {**crossval_unit(args.from_crossval, params.train.seed), "inputs": inputs}
        with open(args.out / UNITS, "a") as f:
            f.write(json.dumps(row) + "\n")
    started = time.perf_counter()
    for seed, (name, overrides) in itertools.product(args.seeds, args.recipe):
        if time.perf_counter() - started > args.stop_after:
            print(f"stopping: {args.stop_after:.0f} s passed", file=sys.stderr)
            break
        row = {**run_unit(name, overrides, seed, base, params, records, authored, args.lodo), "inputs": inputs}
        with open(args.out / UNITS, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k not in ("labels", "loao_per_fold", "inputs")}), flush=True)


def main() -> None:
    from pipeline.config import load_params
    from pipeline.io import read_jsonl

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", help="base model folder [default: train.base_model of the params]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--recipe", type=recipe_arg, action="append", default=[],
                        help="NAME=JSON overrides of the train params, e.g. epochs3='{\"epochs\": 3}'; "
                             "none: only summarise the units already in OUT")
    parser.add_argument("--from-crossval", metavar="NAME",
                        help="add the shipped recipe's unit at train.seed from metrics/crossval.json (after `dvc repro`) "
                             "under NAME, instead of retraining it")
    parser.add_argument("--lodo", action="store_true", help="also leave-disputes-out and authored-only on the seed gold")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stop-after", type=float, default=float("inf"),
                        help="start no new unit after this many seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "metrics")
    args = parser.parse_args()

    params = load_params(ROOT / "configs" / "params.yaml")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.recipe or args.from_crossval:  # else only the summary, which needs neither the data nor the model
        run_units(args, params)
    units = list(read_jsonl(args.out / UNITS))  # every unit so far, this run's and earlier ones
    summary = summarise_units(units, params.evaluate.bootstrap_resamples, params.split.seed)
    (args.out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
