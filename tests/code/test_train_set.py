"""What each recipe trains on (pipeline.training.training_set), without training."""

from pipeline.config import TrainConfig
from pipeline.training import class_weights, seed_only, training_set

SEEDS = [{"sentence_id": "s1", "article_id": "a", "text": "Officials in Valdoria denied the report.", "label": "denial"},
         {"sentence_id": "s2", "article_id": "a", "text": "Rights groups accused Valdoria of abuse.", "label": "accusation"}]
AUTHORED = [{"sentence_id": "authored:x:1", "text": "Korvel Networks rejected the fine.", "label": "denial", "dispute": "x"},
            {"sentence_id": "authored:y:1", "text": "Orsetia accused Karvonia of shelling.", "label": "accusation", "dispute": "y"}]


def test_shipped_recipe_adds_authored_repeats_and_swaps():
    rows = training_set(TrainConfig(use_authored=True, augment_swaps=2, real_news_repeats=3), SEEDS, AUTHORED)
    assert sum(r["sentence_id"] == "s1" for r in rows) == 3
    assert sum(r["sentence_id"].startswith("authored:") for r in rows) == 2
    swapped = [r for r in rows if "~" in r["sentence_id"]]
    assert swapped and all("Valdoria" not in r["text"] for r in swapped)
    assert {r["label"] for r in swapped} <= {"denial", "accusation"}


def test_seed_only_recipe_trains_on_the_seeds_alone():
    cfg = seed_only(TrainConfig(use_authored=True, augment_swaps=4, real_news_repeats=3), epochs=10, learning_rate=2e-4)
    assert training_set(cfg, SEEDS, AUTHORED) == SEEDS and cfg.epochs == 10


def test_name_swaps_change_the_context_with_the_sentence():
    seeds = [{**SEEDS[1], "context": ["Valdoria rejects report", "Officials in Valdoria denied the report."]}]
    rows = training_set(TrainConfig(use_authored=True, augment_swaps=3, real_news_repeats=1), seeds, AUTHORED)
    swapped = [r for r in rows if "~" in r["sentence_id"]]
    assert swapped and all("Valdoria" not in r["text"] and "Valdoria" not in " ".join(r["context"]) for r in swapped)


def test_class_weights_are_balanced_and_absent_classes_weigh_one():
    assert list(class_weights(["denial", "denial", "neutral", "accusation"])) == [4 / 3, 2 / 3, 4 / 3]
    assert list(class_weights(["denial", "neutral", "neutral"])) == [1.0, 1.5, 0.75]
