import numpy as np
import pytest

from pipeline.config import EvaluateConfig, SplitConfig, TrainConfig
from pipeline.evaluate import (cross_validate, evaluate_systems, evaluation_metrics, fit_majority, fit_tfidf_lr,
                               macro_f1_rows, paired_bootstrap, score, summarise, weak_predictions)


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


def test_evaluate_systems_scores_every_system_on_the_same_sentences():
    perfect = lambda texts: ["denial", "accusation", "neutral"]
    scores = evaluate_systems({"model": perfect}, TRAIN, TEST)
    assert set(scores) == {"model", "majority", "weak", "tfidf_lr"}
    assert scores["model"]["macro_f1"] == 1.0 and scores["weak"]["accuracy"] == 1.0
    assert sum(map(sum, scores["majority"]["confusion"])) == len(TEST)


def test_cross_validate_holds_out_whole_articles():
    seen = []

    def fake_fit(config, train, batch_size):
        seen.append({r.get("article_id") for r in train})
        return fit_tfidf_lr(train)

    records = TRAIN + TEST + rows("c", [("Officials rejected the report", "denial", "denial"),
                                        ("Activists alleged abuse", "accusation", "accusation")])
    authored = [{"text": "The regulator accused the bank of fraud", "label": "accusation", "dispute": "bank"}]
    recipes = {"seed_only": TrainConfig(use_authored=False), "shipped": TrainConfig(use_authored=True)}
    result, predictions = cross_validate(recipes, EvaluateConfig(), SplitConfig(), records, authored=authored,
                                         fit=fake_fit, reference="seed_only")
    assert result["folds"] == 3
    assert seen == [{"b", "c"}, {"b", "c", None}, {"a", "c"}, {"a", "c", None}, {"a", "b"}, {"a", "b", None}]
    assert set(result["shipped"]) == {"macro_f1_mean", "macro_f1_std", "accuracy_mean", "accuracy_std",
                                      "macro_f1_pooled", "accuracy_pooled"}
    assert {"seed_only", "shipped", "tfidf_lr", "weak", "majority", "shipped_minus_seed_only"} <= set(result)
    # one out-of-fold row per gold sentence, each system's label beside the truth
    assert sorted(p["sentence_id"] for p in predictions) == sorted(r["sentence_id"] for r in records)
    assert all({"label", "shipped", "seed_only", "tfidf_lr", "weak", "majority"} <= set(p) for p in predictions)
    weak_pooled = score([p["label"] for p in predictions], [p["weak"] for p in predictions])
    assert result["weak"]["macro_f1_pooled"] == weak_pooled["macro_f1"]
    gap = result["shipped_minus_seed_only"]
    assert gap["macro_f1_pooled"] == pytest.approx(
        result["shipped"]["macro_f1_pooled"] - result["seed_only"]["macro_f1_pooled"], abs=2e-4)
    assert gap["ci95_low"] <= gap["macro_f1_pooled"] <= gap["ci95_high"]


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


def test_evaluation_metrics_take_the_seed_only_figure_of_the_same_held_out_articles():
    fold = {"seed_only": {"macro_f1": 0.42, "accuracy": 0.5}}
    systems = {name: {"macro_f1_mean": 0.5} for name in ("shipped", "seed_only", "tfidf_lr", "weak", "majority")}
    crossval = {"per_fold": [{"held_out": ["a"], **fold}, {"held_out": ["b"], "seed_only": {"macro_f1": 0.9}}], **systems}
    metrics, scores = evaluation_metrics(["denial", "accusation", "neutral"], TRAIN, TEST, crossval, {"consistency": 1.0})
    assert metrics["test_seed_only_macro_f1"] == 0.9  # TEST is article "b"
    assert metrics["test"]["model"]["macro_f1"] == 1.0 and metrics["test_sentences"] == 3
    assert set(metrics["test"]) == {"model", "majority", "weak", "tfidf_lr"} and set(metrics["test"]["model"]) == {
        "macro_f1", "accuracy", "f1_accusation", "f1_denial", "f1_neutral"}
    assert metrics["cv"] == systems and metrics["name_swap"] == {"consistency": 1.0}
    assert scores["model"]["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
