"""Scores shared by every evaluation (evaluate, crossval, generalize, eval-set): macro-F1
and per-class figures, the simple baselines, a paired bootstrap of a difference in
macro-F1, calibration error, and the confusion-matrix picture."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.pipeline import make_pipeline

from pipeline.labels import LABELS

Predictor = Callable[[list[str]], list[str]]


def score(y_true: list[str], y_pred: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix (rows: true)."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    return {
        "sentences": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4) if y_true else 0.0,
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)), 4),
        "per_class": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(s[i])} for i, lab in enumerate(LABELS)},
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
    }


def brief(scores: dict) -> dict:
    """The headline figures of `score`: macro-F1, accuracy and each class's F1."""
    return {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"],
            **{f"f1_{lab}": scores["per_class"][lab]["f1"] for lab in LABELS}}


def expected_calibration_error(probs: np.ndarray, truth: list[str], bins: int = 10) -> float:
    """ECE of the top-class probability: the mean |accuracy - confidence| over equal-width
    confidence bins, weighted by how many predictions fall in each."""
    if not len(truth):
        return 0.0
    probs = np.asarray(probs)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.array([LABELS.index(t) for t in truth])
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
            for b in range(bins) if (which == b).any()]
    return round(float(np.sum(gaps)), 4)


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
    """The weak labeler's labels; its abstentions count as neutral."""
    return [r.get("weak_label") or "neutral" for r in records]


def baseline_predictions(train: list[dict], test: list[dict], seed: int = 42) -> dict[str, list[str]]:
    """Labels of `test` by every baseline, the trainable ones trained on `train`."""
    texts = [r["text"] for r in test]
    return {"majority": fit_majority(train)(texts), "weak": weak_predictions(test),
            "tfidf_lr": fit_tfidf_lr(train, seed)(texts)}


def macro_f1_rows(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Macro-F1 along the last axis of class-index arrays, as sklearn's `f1_score(average=
    "macro", labels=LABELS, zero_division=0)` computes it, for many bootstrap resamples at once."""
    classes = np.arange(len(LABELS)).reshape((-1,) + (1,) * truth.ndim)
    hits = ((truth == classes) & (predicted == classes)).sum(-1)
    totals = (truth == classes).sum(-1) + (predicted == classes).sum(-1)  # 2TP + FP + FN
    return np.where(totals > 0, 2 * hits / np.maximum(totals, 1), 0.0).mean(0)


def paired_bootstrap(truth: list[str], a: list[list[str]], b: list[list[str]], resamples: int, seed: int) -> dict:
    """Macro-F1 of system `a` minus that of `b` on the same sentences, with a 95% percentile
    interval from resampling the sentences (scipy.stats.bootstrap, paired: both systems see
    the same resample). `a` and `b` are each one or more runs' labels of the sentences (e.g.
    one per training seed); a system's figure is the mean macro-F1 of its runs, so seed luck
    averages out. Sentences of one article are not independent, so the interval is, if
    anything, narrow."""
    from scipy.stats import bootstrap

    index = {label: i for i, label in enumerate(LABELS)}
    t = np.array([index[label] for label in truth])
    runs_a, runs_b = (np.array([[index[label] for label in run] for run in runs]) for runs in (a, b))
    n_a = len(runs_a)
    # one sample per column: the truth, then every run of a, then every run of b
    samples = (t, *runs_a, *runs_b)

    def difference(truth_s, *runs, axis=-1):
        mean = lambda rs: np.mean([macro_f1_rows(truth_s, r) for r in rs], axis=0)  # noqa: E731
        return mean(runs[:n_a]) - mean(runs[n_a:])

    whole = float(difference(*samples))
    result = bootstrap(samples, difference, paired=True, vectorized=True, n_resamples=resamples,
                       method="percentile", confidence_level=0.95, random_state=np.random.default_rng(seed))
    draws = result.bootstrap_distribution
    return {"macro_f1_pooled": round(whole, 4),
            "ci95_low": round(float(result.confidence_interval.low), 4),
            "ci95_high": round(float(result.confidence_interval.high), 4),
            "share_of_resamples_above_zero": round(float((draws > 0).mean()), 4), "resamples": resamples}


def summarise(per_fold: list[dict]) -> dict:
    """Mean and std over folds of each system's macro-F1 and accuracy."""
    systems = [k for k in per_fold[0] if isinstance(per_fold[0][k], dict)]
    out = {}
    for name in systems:
        for metric in ("macro_f1", "accuracy"):
            values = np.array([fold[name][metric] for fold in per_fold])
            out.setdefault(name, {})[f"{metric}_mean"] = round(float(values.mean()), 4)
            out[name][f"{metric}_std"] = round(float(values.std(ddof=0)), 4)
    return out


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
    fig.savefig(path, metadata={"Software": None})  # no version string: the same matrix, the same bytes
    plt.close(fig)
