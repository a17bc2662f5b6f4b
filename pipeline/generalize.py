"""Research stage `generalize` (research/dvc.yaml): out-of-dispute figures ->
metrics/generalization.json.

- `seed_gold`: the shipped recipe trained on the authored corpus only (no seed article),
  scored on every real-news seed gold sentence, beside TF-IDF trained on the same data and
  the weak labeler: real news of a dispute the model never saw.
- `leave_disputes_out`: grouped CV over the authored disputes (`generalize.dispute_folds`):
  the recipe trained on the other disputes, the seed-only reference model (all seed gold),
  TF-IDF, the weak labeler and majority. The authored corpus is not real news: this says
  whether the recipe carries across disputes, not how it reads the news (`stance eval-set`).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline import paths
from pipeline.authored import load_authored
from pipeline.config import Params
from pipeline.io import read_jsonl, write_json
from pipeline.labels import LABELS
from pipeline.metrics import baseline_predictions, brief, score, summarise
from pipeline.schema import gold, group_folds, with_context
from pipeline.training import fit_classifier, seed_only, training_set
from pipeline.weak import load_rules, weak_label


def run(params: Params, report: Callable[[str], None]) -> str:
    cfg, gen = params.train, params.generalize
    records = list(read_jsonl(paths.LABELED))
    seed_gold = with_context(gold(records), records)
    authored = load_authored(params.corpus.paths)
    weak = weak_label(load_rules(params.label.rules_path), [r["text"] for r in authored], params.label.label_model)
    authored = [{**r, "weak_label": w} for r, w in zip(authored, weak.labels)]
    recipe = cfg.model_copy(update={"use_authored": True})

    def labels(classifier, rows: list[dict]) -> list[str]:
        probs = classifier.predict_proba([r["text"] for r in rows], contexts=[tuple(r["context"]) for r in rows])
        return [LABELS[i] for i in probs.argmax(axis=1)]

    truth = [r["label"] for r in seed_gold]
    on_seeds = {"model": labels(fit_classifier(recipe, training_set(recipe, [], authored)), seed_gold),
                **baseline_predictions(authored, seed_gold, params.split.seed)}
    reference = fit_classifier(seed_only(cfg, gen.reference.epochs, gen.reference.learning_rate), seed_gold)
    per_fold = []
    for held_out in group_folds([r["dispute"] for r in authored], gen.dispute_folds, params.split.seed):
        test = [r for r in authored if r["dispute"] in held_out]
        train = [r for r in authored if r["dispute"] not in held_out]
        test_truth = [r["label"] for r in test]
        predicted = {"model": labels(fit_classifier(recipe, training_set(recipe, [], train)), test),
                     "seed_only": labels(reference, test), **baseline_predictions(train, test, params.split.seed)}
        per_fold.append({"held_out_disputes": len(held_out), "sentences": len(test),
                         **{n: {k: v for k, v in brief(score(test_truth, p)).items() if k in ("macro_f1", "accuracy")}
                            for n, p in predicted.items()}})
        report(f"generalize: {len(held_out)} disputes held out: "
               + ", ".join(f"{n} {per_fold[-1][n]['macro_f1']:.3f}" for n in predicted))
    result = {"seed_gold": {n: brief(score(truth, p)) for n, p in on_seeds.items()},
              "leave_disputes_out": {"folds": len(per_fold), **summarise(per_fold), "per_fold": per_fold}}
    write_json(paths.GENERALIZATION_METRICS, result)
    lodo = result["leave_disputes_out"]
    return ("generalize: seed gold by authored-only model, macro-F1 "
            f"{result['seed_gold']['model']['macro_f1']:.3f}; leave-disputes-out macro-F1 "
            + ", ".join(f"{n} {lodo[n]['macro_f1_mean']:.3f}" for n in ("model", "seed_only", "tfidf_lr", "weak")))
