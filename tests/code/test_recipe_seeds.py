"""bench/recipe_seeds.py's summary: the figures it reports over training seeds."""

import importlib.util

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def recipe_seeds():
    spec = importlib.util.spec_from_file_location("recipe_seeds", ROOT / "bench" / "recipe_seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRUTH = ["accusation", "denial", "neutral"] * 10
WRONG = ["denial"] * 30  # right on a third


def unit(seed, recipe_labels, seed_only, recipe="shipped", inputs="a"):
    from pipeline.evaluate import paired_bootstrap, score

    ids = [f"s{i:02d}" for i in range(len(TRUTH))]
    return {"recipe": recipe, "overrides": {}, "seed": seed, "inputs": {"labeled_md5": inputs},
            "loao": {"recipe": {"macro_f1_pooled": score(TRUTH, recipe_labels)["macro_f1"]},
                     "seed_only": {"macro_f1_pooled": score(TRUTH, seed_only)["macro_f1"]}},
            "recipe_minus_seed_only": paired_bootstrap(TRUTH, [recipe_labels], [seed_only], 100, 1),
            "labels": {i: [t, a, b] for i, t, a, b in zip(ids, TRUTH, recipe_labels, seed_only)}}


def test_summary_averages_each_system_over_its_seeds(recipe_seeds):
    units = [unit(1, TRUTH, WRONG), unit(2, WRONG, TRUTH), unit(3, TRUTH, WRONG)]
    entry = recipe_seeds.summarise_units(units, resamples=200, seed=1)["shipped"]
    assert entry["seeds"] == [1, 2, 3] and entry["sentences"] == 30
    low = units[0]["loao"]["seed_only"]["macro_f1_pooled"]
    assert entry["recipe"]["macro_f1_pooled_per_seed"] == [1.0, low, 1.0]
    assert entry["recipe"]["macro_f1_pooled_mean"] == pytest.approx((2 + low) / 3, abs=1e-4)
    assert entry["seed_only"]["macro_f1_pooled_per_seed"] == [low, 1.0, low]
    assert entry["recipe_minus_seed_only"]["macro_f1_pooled"] == pytest.approx((1 - low) / 3, abs=1e-4)
    assert entry["seeds_recipe_ahead"] == 2


def test_units_of_other_inputs_are_not_summarised_together(recipe_seeds):
    units = [unit(1, TRUTH, WRONG), unit(2, TRUTH, WRONG, inputs="b")]
    with pytest.raises(SystemExit, match="different inputs"):
        recipe_seeds.summarise_units(units, resamples=50, seed=1)
    with pytest.raises(SystemExit, match="two units of one seed"):
        recipe_seeds.summarise_units([unit(1, TRUTH, WRONG), unit(1, TRUTH, WRONG)], resamples=50, seed=1)
    # other recipes are summarised apart
    both = recipe_seeds.summarise_units([unit(1, TRUTH, WRONG), unit(1, WRONG, WRONG, recipe="other", inputs="b")], 50, 1)
    assert set(both) == {"shipped", "other"}


def test_a_unit_read_from_crossval_summarises_like_a_retrained_one(recipe_seeds):
    """`--from-crossval` turns the crossval stage's files into the unit `run_unit` writes."""
    ids = [f"s{i:02d}" for i in range(len(TRUTH))]
    retrained = unit(42, TRUTH, WRONG)
    crossval = {"shipped": {**retrained["loao"]["recipe"], "macro_f1_mean": 0.9, "accuracy_pooled": 1.0},
                "seed_only": {**retrained["loao"]["seed_only"], "macro_f1_mean": 0.3, "accuracy_pooled": 0.33},
                "per_fold": [{"shipped": {"macro_f1": 0.9}, "seed_only": {"macro_f1": 0.3}, "weak": {"macro_f1": 0.5}}],
                "shipped_minus_seed_only": retrained["recipe_minus_seed_only"], "weak": {}}
    predictions = [{"sentence_id": i, "label": t, "shipped": t, "seed_only": w, "weak": "neutral"}
                   for i, t, w in zip(ids, TRUTH, WRONG)]
    read = {**recipe_seeds.unit_from_crossval("shipped", 42, crossval, predictions), "inputs": retrained["inputs"]}
    assert read["labels"] == retrained["labels"]
    assert read["loao_per_fold"] == [{"recipe": 0.9, "seed_only": 0.3}]
    assert read["loao"]["recipe"]["macro_f1_pooled"] == 1.0
    summary = recipe_seeds.summarise_units([read, unit(1, WRONG, TRUTH)], resamples=100, seed=1)["shipped"]
    assert summary["seeds"] == [1, 42] and summary["seeds_recipe_ahead"] == 1
