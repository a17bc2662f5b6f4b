from pipeline.augment import augment, name_pools, names_in, swap_names


def test_names_in_finds_multiword_names_and_skips_function_words():
    text = "US Secretary of State Mike Pompeo said on Monday that Halvorsen Pharma misled doctors."
    assert names_in(text) == ["US Secretary of State Mike Pompeo", "Halvorsen Pharma"]


def test_sentence_initial_word_counts_only_when_known():
    assert names_in("Tickets went on sale in Paris.") == ["Paris"]
    assert names_in("Lactara denied it.", known={"Lactara"}) == ["Lactara"]


def test_swap_is_consistent_within_a_sentence():
    text = "Borsa said Borsa's engineers acted properly, Borsa Motors added."
    out = swap_names(text, {"Borsa Motors": "Aster Bank", "Borsa": "Aster"})
    assert out == "Aster said Aster's engineers acted properly, Aster Bank added."


def test_augment_keeps_label_and_draws_names_from_other_disputes():
    records = [
        {"sentence_id": "a1", "article_id": "x", "dispute": "cars", "label": "denial",
         "text": "Borsa Motors rejected the claims made by the Environment Agency."},
        {"sentence_id": "b1", "article_id": "y", "dispute": "bank", "label": "accusation",
         "text": "Regulators in Denmark fined Aster Bank over laundering."},
    ]
    pools = name_pools(records)
    out = augment(records, 2, pools, seed=1)
    assert out and all(o["label"] == next(r for r in records if o["sentence_id"].startswith(r["sentence_id"]))["label"]
                       for o in out)
    swapped = [o for o in out if o["sentence_id"].startswith("a1")]
    assert all("Borsa" not in o["text"] and "rejected the claims" in o["text"] for o in swapped)
    assert augment(records, 2, pools, seed=1) == out
