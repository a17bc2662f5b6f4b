"""What each recipe trains on (pipeline.training: training_set, datasets) and the helpers
around training (class weights, the temperature), without training."""

import numpy as np

from pipeline.config import CorpusConfig, Params, TrainConfig
from pipeline.io import write_jsonl
from pipeline.labels import LABELS
from pipeline.training import class_weights, datasets, fit_temperature, seed_only, training_set

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


def test_temperature_fits_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), labels] += 1.0  # right more often than not
    t = fit_temperature(logits * 5, [LABELS[i] for i in labels])  # 5x too sharp
    assert 3.5 < t < 7


def seed_article(article, names, labels, source="gold"):
    return [{"sentence_id": f"{article}-{i}", "article_id": article, "index": i, "label": label,
             "label_source": source, "text": f"{name} said on day {i} of the {article} affair that it denied it."}
            for i, (name, label) in enumerate(zip(names, labels))]


def test_datasets_hold_out_disputes_and_the_test_articles(tmp_path, monkeypatch):
    """The `train` stage's rows: the validation rows are whole authored disputes that training
    never sees, and nothing of the seed test split's articles is trained or validated on,
    neither its gold nor its weak labels nor name-swapped copies of them."""
    monkeypatch.chdir(tmp_path)
    labels = ["accusation", "denial", "neutral"]
    train_a = seed_article("train-a", ["Valdoria", "Osmund Rail", "Karen Pierce"], labels)
    test_a = seed_article("test-a", ["Brevik", "Halvorsen Pharma", "Lena Moss"], labels)
    test_weak = [{**r, "sentence_id": f"{r['sentence_id']}w", "index": r["index"] + 10, "label_source": "weak",
                  "text": r["text"].replace("denied", "rejected")} for r in test_a]
    weak_only = seed_article("weak-a", ["Drummark", "Tesvia Port", "Ivo Brandt"], labels, source="weak")
    write_jsonl(tmp_path / "data/labeled.jsonl", train_a + test_a + test_weak + weak_only)
    split_of = {"train-a": "train", "test-a": "test"}
    write_jsonl(tmp_path / "data/splits.jsonl", [{"sentence_id": r["sentence_id"], "article_id": r["article_id"],
                                                  "split": split_of[r["article_id"]]} for r in train_a + test_a])
    disputes = [f"d{k}" for k in range(8)]
    write_jsonl(tmp_path / "corpus.jsonl", [
        {"article_id": f"{d}-a", "index": i, "dispute": d, "label": label,
         "text": f"Party {d.upper()} Group {i} {label}s the claim by Minister {d.upper()}{i} in Port {d.upper()}."}
        for d in disputes for i, label in enumerate(labels)])
    train_cfg = TrainConfig(use_authored=True, use_weak_labels=True, valid_disputes=3, augment_swaps=2,
                            real_news_repeats=2, seed=5)
    params = Params(corpus=CorpusConfig(paths=[tmp_path / "corpus.jsonl"]), train=train_cfg)

    train, valid, held_out = datasets(params)

    assert len(held_out) == 3 and held_out < set(disputes)
    assert {r["dispute"] for r in valid} == held_out and len(valid) == 3 * len(labels)
    assert not held_out & {r.get("dispute") for r in train}
    assert not {r["text"] for r in valid} & {r["text"] for r in train}
    assert {r["dispute"] for r in train if r["label_source"] == "authored"} == set(disputes) - held_out
    test_ids = {r["sentence_id"] for r in test_a + test_weak}
    for row in train + valid:
        assert row["article_id"] != "test-a" and row["sentence_id"].split("~")[0] not in test_ids, row
    trained_ids = {r["sentence_id"] for r in train}
    assert {r["sentence_id"] for r in train_a + weak_only} <= trained_ids  # what should be there is
    assert any("~swap" in sid for sid in trained_ids)  # the swapped copies are made, from train-split articles only

