"""Stage `evaluate`: the shipped model on the held-out seed article(s), beside baselines ->
metrics/evaluate.json, plots/, and the metrics in the model's MLflow run.

Systems, all scored on the same held-out sentences:
    model      the shipped model, through StanceClassifier (the inference path users get)
    majority   the most frequent training label
    weak       the weak labeler's label (its abstentions count as `neutral`)
    tfidf_lr   TF-IDF word/bigram features + logistic regression, trained on the seed train split
Also: name-swap consistency (the share of test sentences whose label survives swapping the
parties' names), the behavioural checks of pipeline/behaviour.py (name invariance and the
direction of a denial, on authored templates) and the expected calibration error. One held-out article is a small
sample: the research stages (crossval, generalize) and `stance eval-set` say more.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline import behaviour, paths, tracking
from pipeline.augment import augment, name_pools, with_dispute
from pipeline.authored import load_authored
from pipeline.classifier import StanceClassifier
from pipeline.config import Params
from pipeline.io import read_jsonl, write_json
from pipeline.labels import LABELS
from pipeline.metrics import baseline_predictions, brief, expected_calibration_error, save_confusion_png, score
from pipeline.schema import gold, records_in, training_records, with_context


def run(params: Params, report: Callable[[str], None]) -> str:
    import mlflow

    cases = behaviour.load_cases(params.evaluate.behaviour_path)  # a bad file fails before any work
    records, splits = list(read_jsonl(paths.LABELED)), list(read_jsonl(paths.SPLITS))
    test = with_context(gold(records_in("test", records, splits)), records)
    classifier = StanceClassifier.load(paths.MODEL_DIR)
    batch = params.evaluate.batch_size
    probs = classifier.predict_proba([r["text"] for r in test], batch, contexts=[tuple(r["context"]) for r in test])
    predicted = [LABELS[i] for i in probs.argmax(axis=1)]
    truth = [r["label"] for r in test]
    train = training_records(records, splits, params.train.use_weak_labels)
    systems = {"model": predicted, **baseline_predictions(train, test, params.split.seed)}
    scores = {name: score(truth, labels) for name, labels in systems.items()}
    pools = name_pools(with_dispute(records + load_authored(params.corpus.paths)))
    metrics = {"test": {name: brief(s) for name, s in scores.items()}, "test_sentences": len(test),
               "test_ece": expected_calibration_error(probs, truth),
               "name_swap": _name_swap_consistency(classifier, test, pools, params.split.seed, batch),
               "behaviour": behaviour.check(lambda texts: [p.label for p in classifier.predict(texts, batch)],
                                            cases)}
    write_json(paths.EVALUATE_METRICS, metrics)
    write_json(paths.CONFUSION, [{"actual": t, "predicted": p} for t, p in zip(truth, predicted)])
    write_json(paths.PER_CLASS_F1, [{"class": lab, "f1": scores["model"]["per_class"][lab]["f1"]} for lab in LABELS])
    save_confusion_png(scores["model"]["confusion"], paths.CONFUSION_PNG,
                       f"model on held-out articles (macro-F1 {scores['model']['macro_f1']:.2f})")

    summary = "evaluate: test macro-F1 " + ", ".join(f"{n} {s['macro_f1']:.3f}" for n, s in scores.items())
    tracking.setup_mlflow(params.mlflow.experiment)
    run_id = tracking.run_with_tag("model_md5", tracking.folder_md5(paths.MODEL_DIR))
    if run_id is None:  # e.g. mlflow.db deleted: the figures are in the files, say so
        report(f"{paths.MODEL_DIR}: no MLflow run in {tracking.tracking_uri()} trained this model; figures not logged")
        return summary
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({k: v for k, v in tracking.flatten(metrics).items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        for path in (paths.EVALUATE_METRICS, paths.CONFUSION_PNG, paths.PER_CLASS_F1):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
    return f"{summary}; MLflow run {run_id}"


def _name_swap_consistency(classifier: StanceClassifier, records: list[dict], pools: dict[str, list[str]], seed: int,
                           batch: int | None) -> dict:
    """Share of sentences whose predicted label survives swapping the parties' names."""
    swapped = augment(with_dispute(records), 1, pools, seed)
    if not swapped:
        return {"sentences": 0, "consistency": None}
    by_id = {r["sentence_id"]: r for r in records}
    originals = [by_id[s["sentence_id"].split("~")[0]] for s in swapped]
    labels = lambda rows: [p.label for p in classifier.predict(  # noqa: E731
        [r["text"] for r in rows], batch, contexts=[tuple(r["context"]) for r in rows])]
    before, after = labels(originals), labels(swapped)
    return {"sentences": len(swapped), "consistency": round(sum(a == b for a, b in zip(before, after)) / len(swapped), 4)}
