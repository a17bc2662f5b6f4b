"""Research stage `crossval` (research/dvc.yaml): the shipped recipe against the seed-only
reference model and the baselines, by grouped cross-validation over the seed articles, at
one or more training seeds -> metrics/crossval.json, metrics/crossval_predictions.jsonl.

Each fold holds out whole seed articles; every recipe is retrained on the other articles
(plus what the recipe adds: the authored corpus, name swaps), the baselines on the same
real-news sentences, and all label the held-out article. With 17-18 sentences an article,
one sentence moves a fold's macro-F1 by ~0.05, so the headline is macro-F1 pooled over all
out-of-fold labels, per training seed, and its mean over `crossval.seeds`; the difference
shipped minus seed-only comes with a paired bootstrap interval over the held-out sentences
(each system's figure averaged over the seeds).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline import paths
from pipeline.authored import load_authored
from pipeline.config import Params
from pipeline.io import read_jsonl, write_json, write_jsonl
from pipeline.labels import LABELS
from pipeline.metrics import baseline_predictions, paired_bootstrap, score
from pipeline.schema import gold, group_folds, weak_only_articles, with_context
from pipeline.training import fit_classifier, seed_only, training_set


def run(params: Params, report: Callable[[str], None]) -> str:
    cfg, cv = params.train, params.crossval
    records = list(read_jsonl(paths.LABELED))
    gold_rows = with_context(gold(records), records)
    extra = with_context(weak_only_articles(records), records) if cfg.use_weak_labels else []
    authored = load_authored(params.corpus.paths) if cfg.use_authored else []
    folds = group_folds([r["article_id"] for r in gold_rows], cv.folds, params.split.seed)
    labels: dict[str, dict[str, list[str]]] = {r["sentence_id"]: {} for r in gold_rows}
    per_fold = []
    for seed in cv.seeds:
        shipped = cfg.model_copy(update={"seed": seed})
        recipes = {"shipped": shipped,
                   "seed_only": seed_only(shipped, cv.reference.epochs, cv.reference.learning_rate)}
        for held_out in folds:
            test = [r for r in gold_rows if r["article_id"] in held_out]
            train = [r for r in gold_rows if r["article_id"] not in held_out] + extra
            texts, contexts = [r["text"] for r in test], [tuple(r["context"]) for r in test]
            predicted = {name: [LABELS[i] for i in fit_classifier(recipe, training_set(recipe, train, authored))
                                .predict_proba(texts, contexts=contexts).argmax(axis=1)]
                         for name, recipe in recipes.items()}
            predicted.update(baseline_predictions(train, test, seed))
            truth = [r["label"] for r in test]
            per_fold.append({"seed": seed, "held_out": held_out, "sentences": len(test),
                             **{name: score(truth, p)["macro_f1"] for name, p in predicted.items()}})
            for name, p in predicted.items():
                for r, label in zip(test, p):
                    labels[r["sentence_id"]].setdefault(name, []).append(label)
            report(f"crossval: seed {seed}, held out {', '.join(held_out)}: "
                   + ", ".join(f"{n} {per_fold[-1][n]:.3f}" for n in predicted))
    truth = [r["label"] for r in gold_rows]
    systems = list(labels[gold_rows[0]["sentence_id"]])
    runs = {name: [[labels[r["sentence_id"]][name][k] for r in gold_rows] for k in range(len(cv.seeds))]
            for name in systems}
    result = {"folds": len(folds), "seeds": cv.seeds, "sentences": len(gold_rows)}
    for name in systems:
        pooled = [score(truth, run)["macro_f1"] for run in runs[name]]
        result[name] = {"macro_f1_pooled_mean": round(float(np.mean(pooled)), 4),
                        "macro_f1_pooled_std": round(float(np.std(pooled)), 4),
                        "macro_f1_pooled_per_seed": pooled}
    result["shipped_minus_seed_only"] = paired_bootstrap(truth, runs["shipped"], runs["seed_only"],
                                                         cv.bootstrap_resamples, params.split.seed)
    result["per_fold"] = per_fold
    write_json(paths.CROSSVAL_METRICS, result)
    write_jsonl(paths.CROSSVAL_PREDICTIONS, [
        {"sentence_id": r["sentence_id"], "article_id": r["article_id"], "text": r["text"], "label": r["label"],
         **{name: labels[r["sentence_id"]][name] for name in systems}} for r in gold_rows])
    gap = result["shipped_minus_seed_only"]
    return ("crossval: pooled macro-F1, mean over seeds: "
            + ", ".join(f"{n} {result[n]['macro_f1_pooled_mean']:.3f}" for n in systems)
            + f"; shipped minus seed-only {gap['macro_f1_pooled']:+.3f} "
            f"(95% interval {gap['ci95_low']:+.3f} to {gap['ci95_high']:+.3f})")
