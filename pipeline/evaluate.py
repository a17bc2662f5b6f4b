"""Stage `evaluate` (and `crossval`): how good is the model, beside simple baselines.

Systems, all scored on the same held-out sentences:
    model      the fine-tuned classifier, through StanceClassifier (the inference path users get)
    majority   the most frequent training label
    weak       the weak labeler's label (its abstentions count as `neutral`)
    tfidf_lr   TF-IDF word/bigram features + logistic regression, trained on the same sentences

`evaluate_systems` scores models and every baseline on the same sentences; `cross_validate`
retrains every trainable system (the seed-only reference and the shipped recipe, and the
baselines) once per group of held-out articles and reports mean and standard deviation
across folds, and macro-F1 pooled over every out-of-fold label: with 17-18 sentences an
article and 2-4 of some class, a single fold's macro-F1 jumps by ~0.05 a sentence, so the
pooled figure (one score over all 87 held-out labels) is the steadier comparison.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.pipeline import make_pipeline

from pipeline.config import EvaluateConfig, SplitConfig, TrainConfig
from pipeline.labels import LABELS
from pipeline.split import article_folds

Predictor = Callable[[list[str]], list[str]]


def score(y_true: list[str], y_pred: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix (rows: true)."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)), 4),
        "per_class": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(s[i])} for i, lab in enumerate(LABELS)},
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
    }


def fit_majority(train: list[dict]) -> Predictor:
    model = DummyClassifier(strategy="most_frequent").fit([[0]] * len(train), [r["label"] for r in train])
    return lambda texts: list(model.predict([[0]] * len(texts)))


def fit_tfidf_lr(train: list[dict], seed: int = 42) -> Predictor:
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed))
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    return lambda texts: list(model.predict(texts))


def weak_predictions(records: list[dict]) -> list[str]:
    return [r.get("weak_label") or "neutral" for r in records]


def fit_model(config: TrainConfig, train: list[dict], batch_size: int | None) -> Predictor:
    from pipeline.classifier import StanceClassifier
    from pipeline.train import train_classifier

    result = train_classifier(config, train)
    classifier = StanceClassifier(result.model, result.tokenizer, max_length=config.max_length)
    return lambda texts: [p.label for p in classifier.predict(texts, batch_size)]


def system_predictions(models: dict[str, Predictor], train: list[dict], test: list[dict],
                       seed: int = 42) -> dict[str, list[str]]:
    """Labels of `test` by the models and by every baseline (trained on `train`)."""
    texts = [r["text"] for r in test]
    return {
        **{name: list(predict(texts)) for name, predict in models.items()},
        "majority": fit_majority(train)(texts),
        "weak": weak_predictions(test),
        "tfidf_lr": fit_tfidf_lr(train, seed)(texts),
    }


def evaluate_systems(models: dict[str, Predictor], train: list[dict], test: list[dict], seed: int = 42) -> dict:
    """Scores of the models and of every baseline (trained on `train`) on `test`."""
    truth = [r["label"] for r in test]
    return {name: score(truth, predicted) for name, predicted in system_predictions(models, train, test, seed).items()}


def cross_validate(recipes: dict[str, TrainConfig], eval_config: EvaluateConfig, split_config: SplitConfig,
                   records: list[dict], extra_train: list[dict] | None = None, authored: list[dict] | None = None,
                   fit: Callable[[TrainConfig, list[dict], int | None], Predictor] = fit_model,
                   reference: str | None = None) -> tuple[dict, list[dict]]:
    """Grouped CV over the gold articles: each fold holds out whole articles and trains every
    recipe on the rest (plus `extra_train`, e.g. weak-labelled articles, plus what the recipe
    adds itself: the authored corpus, name swaps), and the baselines on the same real-news
    sentences; all are scored on the held-out articles.

    Returns the metrics (per fold; mean and std over folds; pooled over all out-of-fold
    labels; each other recipe minus `reference`, pooled, with a bootstrap interval) and one
    row per gold sentence with every system's out-of-fold label."""
    from pipeline.train import training_set

    gold = [r for r in records if r["label_source"] == "gold"]
    folds = article_folds(sorted({r["article_id"] for r in gold}), eval_config.cv_folds, split_config.seed)
    per_fold, predictions = [], []
    for held_out in folds:
        test = [r for r in gold if r["article_id"] in held_out]
        train = [r for r in gold if r["article_id"] not in held_out] + list(extra_train or [])
        models = {name: fit(cfg, training_set(cfg, train, authored or []), eval_config.batch_size)
                  for name, cfg in recipes.items()}
        predicted = system_predictions(models, train, test, split_config.seed)
        scores = {name: score([r["label"] for r in test], labels) for name, labels in predicted.items()}
        per_fold.append({"held_out": held_out, "sentences": len(test),
                         **{name: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"]} for name, s in scores.items()}})
        predictions += [{"sentence_id": r["sentence_id"], "article_id": r["article_id"], "text": r["text"],
                         "label": r["label"], **{name: labels[i] for name, labels in predicted.items()}}
                        for i, r in enumerate(test)]
    metrics = {"folds": len(folds), "per_fold": per_fold, **summarise(per_fold)}
    truth = [p["label"] for p in predictions]
    for name in predicted:
        pooled = score(truth, [p[name] for p in predictions])
        metrics[name].update(macro_f1_pooled=pooled["macro_f1"], accuracy_pooled=pooled["accuracy"])
    if reference:
        for name in sorted(set(recipes) - {reference}):
            metrics[f"{name}_minus_{reference}"] = paired_bootstrap(
                truth, [[p[name] for p in predictions]], [[p[reference] for p in predictions]],
                eval_config.bootstrap_resamples, split_config.seed)
    return metrics, predictions


def paired_bootstrap(truth: list[str], a: list[list[str]], b: list[list[str]], resamples: int, seed: int) -> dict:
    """Macro-F1 of system `a` minus that of `b` on the same sentences, with a 95% percentile
    interval from resampling the sentences (paired: both systems see the same resample).
    `a` and `b` are each one or more runs' labels of the sentences (e.g. one per training
    seed); a system's figure is the mean macro-F1 of its runs, so seed luck averages out.
    Sentences of one article are not independent, so the interval is, if anything, narrow."""
    index = {label: i for i, label in enumerate(LABELS)}
    truth = np.array([index[label] for label in truth])
    a, b = (np.array([[index[label] for label in run] for run in runs]) for runs in (a, b))
    draws = np.random.default_rng(seed).integers(0, len(truth), size=(resamples, len(truth)))

    def mean_f1(runs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.mean([macro_f1_rows(truth[rows], run[rows]) for run in runs], axis=0)

    differences = mean_f1(a, draws) - mean_f1(b, draws)
    low, high = np.percentile(differences, [2.5, 97.5])
    whole = np.arange(len(truth))[None]
    return {"macro_f1_pooled": round(float((mean_f1(a, whole) - mean_f1(b, whole))[0]), 4),
            "ci95_low": round(float(low), 4), "ci95_high": round(float(high), 4),
            "share_of_resamples_above_zero": round(float((differences > 0).mean()), 4), "resamples": resamples}


def macro_f1_rows(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of (rows, sentences) class-index arrays, as sklearn's
    `f1_score(average="macro", labels=LABELS, zero_division=0)` computes it, but for
    thousands of bootstrap resamples at once (sklearn takes milliseconds per call)."""
    classes = np.arange(len(LABELS))[:, None, None]
    hits = ((truth == classes) & (predicted == classes)).sum(-1)
    totals = (truth == classes).sum(-1) + (predicted == classes).sum(-1)  # 2TP + FP + FN
    return np.where(totals > 0, 2 * hits / np.maximum(totals, 1), 0.0).mean(0)


def evaluation_metrics(predicted: list[str], train: list[dict], test: list[dict], crossval: dict,
                       swap_consistency: dict, seed: int = 42) -> tuple[dict, dict]:
    """metrics/evaluate.json from the model's labels for the test articles: the model beside
    the baselines (trained on `train`, the real-news sentences the model also saw), the
    seed-only reference model of the same held-out articles (from `crossval`), the CV
    summary, and name-swap consistency. Also returns the full scores, for the plots."""
    scores = evaluate_systems({"model": lambda texts: predicted}, train, test, seed)
    test_articles = sorted({r["article_id"] for r in test})
    same_fold = [f for f in crossval["per_fold"] if f["held_out"] == test_articles]
    metrics = {
        "test": {name: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"],
                        **{f"f1_{lab}": s["per_class"][lab]["f1"] for lab in LABELS}} for name, s in scores.items()},
        "test_sentences": len(test),
        "test_seed_only_macro_f1": same_fold[0]["seed_only"]["macro_f1"] if same_fold else None,
        "cv": {name: crossval[name] for name in ("shipped", "seed_only", "tfidf_lr", "weak", "majority")},
        "name_swap": swap_consistency,
    }
    return metrics, scores


def summarise(per_fold: list[dict]) -> dict:
    systems = [k for k in per_fold[0] if isinstance(per_fold[0][k], dict)]
    out = {}
    for name in systems:
        for metric in ("macro_f1", "accuracy"):
            values = np.array([fold[name][metric] for fold in per_fold])
            out.setdefault(name, {})[f"{metric}_mean"] = round(float(values.mean()), 4)
            out[name][f"{metric}_std"] = round(float(values.std(ddof=0)), 4)
    return out


def confusion_rows(test: list[dict], predicted: list[str]) -> list[dict]:
    """One row per sentence, for DVC's confusion-matrix plot template."""
    return [{"actual": r["label"], "predicted": p} for r, p in zip(test, predicted)]


def save_confusion_png(confusion: list[list[int]], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    matrix = np.array(confusion)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def generalisation(train_config: TrainConfig, eval_config: EvaluateConfig, seed_gold: list[dict],
                   authored: list[dict], fit: Callable[[TrainConfig, list[dict], int | None], Predictor] = fit_model,
                   seed: int = 42) -> dict:
    """Out-of-dispute figures, kept apart from the in-domain ones:
    - `seed_gold`: the shipped recipe trained on the authored corpus only (no seed article),
      scored on all real-news seed gold; beside TF-IDF trained on the same data and the weak labeler.
    - `leave_disputes_out`: grouped CV over authored disputes: the recipe trained on the other
      disputes, the seed-only reference model (all seed gold), TF-IDF, the weak labeler, majority."""
    from pipeline.train import seed_only, training_set

    batch = eval_config.batch_size
    recipe = train_config.model_copy(update={"use_authored": True})
    texts, truth = [r["text"] for r in seed_gold], [r["label"] for r in seed_gold]
    authored_train = training_set(recipe, [], authored)
    on_seeds = {
        "model": score(truth, fit(recipe, authored_train, batch)(texts)),
        "tfidf_lr": score(truth, fit_tfidf_lr(authored, seed)(texts)),
        "weak": score(truth, weak_predictions(seed_gold)),
    }
    reference = fit(seed_only(train_config, eval_config.seed_only_epochs, eval_config.seed_only_learning_rate),
                    seed_gold, batch)
    folds = article_folds(sorted({r["dispute"] for r in authored}), eval_config.dispute_folds, seed)
    per_fold = []
    for held_out in folds:
        test = [r for r in authored if r["dispute"] in held_out]
        train = [r for r in authored if r["dispute"] not in held_out]
        test_texts, test_truth = [r["text"] for r in test], [r["label"] for r in test]
        scores = {
            "model": score(test_truth, fit(recipe, training_set(recipe, [], train), batch)(test_texts)),
            "seed_only": score(test_truth, reference(test_texts)),
            "tfidf_lr": score(test_truth, fit_tfidf_lr(train, seed)(test_texts)),
            "weak": score(test_truth, weak_predictions(test)),
            "majority": score(test_truth, fit_majority(train)(test_texts)),
        }
        per_fold.append({"held_out_disputes": len(held_out), "sentences": len(test),
                         **{n: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"]} for n, s in scores.items()}})
    return {
        "seed_gold": {n: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"],
                          **{f"f1_{lab}": s["per_class"][lab]["f1"] for lab in LABELS}} for n, s in on_seeds.items()},
        "leave_disputes_out": {"folds": len(folds), **summarise(per_fold), "per_fold": per_fold},
    }


def name_swap_consistency(predict: Predictor, records: list[dict], pools: dict[str, list[str]], seed: int) -> dict:
    """Share of sentences whose predicted label survives swapping the parties' names."""
    from pipeline.augment import augment, with_dispute

    swapped = augment(with_dispute(records), 1, pools, seed)
    if not swapped:
        return {"sentences": 0, "consistency": None}
    by_id = {r["sentence_id"]: r for r in records}
    originals = [by_id[s["sentence_id"].split("~")[0]]["text"] for s in swapped]
    before, after = predict(originals), predict([s["text"] for s in swapped])
    return {"sentences": len(swapped), "consistency": round(sum(a == b for a, b in zip(before, after)) / len(swapped), 4)}
