import numpy as np
import pytest

from pipeline.metrics import (baseline_predictions, expected_calibration_error, fit_majority, fit_tfidf_lr, macro_f1_rows,
                              paired_bootstrap, score, summarise, weak_predictions)


def test_score_per_class_and_confusion():
    s = score(["accusation", "denial", "neutral", "denial"], ["accusation", "neutral", "neutral", "denial"])
    assert s["accuracy"] == 0.75
    assert s["per_class"]["denial"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667), "support": 2}
    assert s["confusion"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert s["macro_f1"] == pytest.approx((1 + 0.6667 + 0.6667) / 3, abs=1e-3)


def rows(article, items):
    return [{"article_id": article, "sentence_id": f"{article}-{i}", "text": t, "label": l, "label_source": "gold",
             "weak_label": w} for i, (t, l, w) in enumerate(items)]


TRAIN = rows("a", [("They denied the claims", "denial", "denial"), ("Critics accused the firm of fraud", "accusation", None),
                   ("The meeting is on Monday", "neutral", "neutral"), ("The ministry denied wrongdoing", "denial", "denial")])
TEST = rows("b", [("The firm denied it", "denial", "denial"), ("Rights groups accused police", "accusation", "accusation"),
                  ("Talks are on Friday", "neutral", None)])


def test_baselines():
    assert fit_majority(TRAIN)(["x", "y"]) == ["denial", "denial"]
    assert fit_tfidf_lr(TRAIN)(["They denied the claims"]) == ["denial"]
    assert weak_predictions(TEST) == ["denial", "accusation", "neutral"]  # abstention -> neutral


def test_baseline_predictions_label_every_test_sentence():
    predicted = baseline_predictions(TRAIN, TEST)
    assert set(predicted) == {"majority", "weak", "tfidf_lr"}
    assert all(len(labels) == len(TEST) for labels in predicted.values())
    assert predicted["weak"] == ["denial", "accusation", "neutral"]


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_rows_equals_sklearn_per_row(seed):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    truth, predicted = rng.integers(0, 3, size=(40, 7)), rng.integers(0, 3, size=(40, 7))  # short rows: absent classes
    truth[0] = predicted[0] = 1  # one class only
    expected = [f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=0) for t, p in zip(truth, predicted)]
    assert macro_f1_rows(truth, predicted) == pytest.approx(expected)


def test_paired_bootstrap_interval_brackets_the_difference():
    truth = ["accusation", "denial", "neutral"] * 20
    better = list(truth)
    worse = list(truth[:40]) + ["denial"] * 20  # wrong on a third of the sentences
    result = paired_bootstrap(truth, [better], [worse], resamples=500, seed=1)
    assert result["macro_f1_pooled"] > 0.2
    assert 0 < result["ci95_low"] <= result["macro_f1_pooled"] <= result["ci95_high"]
    assert result["share_of_resamples_above_zero"] == 1.0 and result["resamples"] == 500
    same = paired_bootstrap(truth, [worse], [worse], resamples=200, seed=1)
    assert same["macro_f1_pooled"] == same["ci95_low"] == same["ci95_high"] == 0.0
    assert paired_bootstrap(truth, [better], [worse], 500, seed=1) == result  # seeded


def test_paired_bootstrap_averages_the_runs_of_each_system():
    truth = ["accusation", "denial", "neutral"] * 20
    better = list(truth)
    worse = list(truth[:40]) + ["denial"] * 20
    one_run = paired_bootstrap(truth, [better], [worse], resamples=300, seed=2)["macro_f1_pooled"]
    # two runs of `a`, one as good as b's: half the gap; runs of equal systems: no gap
    half = paired_bootstrap(truth, [better, worse], [worse, worse], resamples=300, seed=2)
    assert half["macro_f1_pooled"] == pytest.approx(one_run / 2, abs=1e-4)
    assert 0 < half["ci95_low"] <= half["macro_f1_pooled"] <= half["ci95_high"]
    level = paired_bootstrap(truth, [better, worse], [worse, better], resamples=300, seed=2)
    assert level["macro_f1_pooled"] == level["ci95_low"] == level["ci95_high"] == 0.0


def test_summarise_mean_and_std():
    folds = [{"model": {"macro_f1": 0.5, "accuracy": 1.0}}, {"model": {"macro_f1": 0.7, "accuracy": 1.0}}]
    assert summarise(folds)["model"] == {"macro_f1_mean": 0.6, "macro_f1_std": 0.1, "accuracy_mean": 1.0,
                                         "accuracy_std": 0.0}


def test_expected_calibration_error():
    truth = ["accusation", "denial", "neutral", "denial"]
    sure_and_right = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(sure_and_right, truth) == 0.0
    # always 90% sure, right half the time: off by 0.4
    half = np.array([[0.9, 0.05, 0.05]] * 4)
    assert expected_calibration_error(half, ["accusation", "denial", "accusation", "neutral"]) == pytest.approx(0.4)
