"""The weak labeler on sentences picked by hand, from disputes other than the seeds'."""

import pytest

from pipeline.config import ConfigError, LabelModelConfig
from pipeline.labels import ABSTAIN, LABEL2ID
from pipeline.weak import apply_rules, load_rules, parse_rules, weak_label


@pytest.fixture(scope="module")
def rules(root):
    return load_rules(root / "configs/labeling_functions.yaml")


def votes_for(rules, text):
    row = apply_rules(rules, [text])[0]
    return {r.label for r, v in zip(rules, row) if v != ABSTAIN}


@pytest.mark.parametrize(
    "text, label",
    [
        ("The carmaker rejected the allegations as baseless and said it complied with all regulations.", "denial"),
        ("Moscow dismissed the report as a politically motivated smear.", "denial"),
        ("The ministry said the criticism amounted to interference in the country's internal affairs.", "denial"),
        ("Officials described the facilities as voluntary training centres.", "denial"),
        ("Prosecutors said the company had paid bribes to win contracts.", "accusation"),
        ("Rights groups say thousands of protesters have been detained without charge.", "accusation"),
        ("The league called on the club to release the players' medical records and end the cover-up.", "accusation"),
        ("The talks are scheduled to resume in Geneva on Tuesday.", "neutral"),
        ("The company employs about 40,000 people in twelve countries.", "neutral"),
    ],
)
def test_rules_vote_for_the_right_label(rules, text, label):
    assert label in votes_for(rules, text)


def test_rules_are_target_free(rules):
    """No rule names a party or place of the seed dispute."""
    seed_words = ["china", "chinese", "beijing", "xinjiang", "uighur", "uyghur", "pompeo", "washington"]
    for rule in rules:
        for pattern in rule.patterns + rule.unless:
            assert not any(w in pattern.pattern.lower() for w in seed_words), (rule.name, pattern.pattern)


def test_label_model_abstains_without_votes(rules):
    texts = ["The firm denied the allegations as baseless.", "Rights groups say hundreds were tortured in custody.",
             "xq zv wp", "The ministry rejected the claims as fabricated lies.", "Talks are scheduled to resume."]
    weak = weak_label(rules, texts, LabelModelConfig(epochs=100))
    assert weak.probs.shape == (5, 3)
    assert weak.labels[0] == "denial" and weak.labels[3] == "denial"
    no_votes = (apply_rules(rules, texts) == ABSTAIN).all(axis=1)
    assert all(weak.labels[i] is None for i in range(5) if no_votes[i])


def test_same_seed_same_weak_labels(rules):
    texts = ["The firm denied it.", "Critics said the firm lied.", "A meeting is scheduled."] * 3
    a = weak_label(rules, texts, LabelModelConfig(epochs=50))
    b = weak_label(rules, texts, LabelModelConfig(epochs=50))
    assert a.labels == b.labels and (a.probs == b.probs).all()


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "expected a non-empty 'labeling_functions' list"),
        ({"labeling_functions": [{"name": "x", "label": "denail", "patterns": ["a"]}]}, "labeling_functions[0].label"),
        ({"labeling_functions": [{"name": "x", "label": "denial", "patterns": ["("]}]}, "x: bad regex"),
        ({"labeling_functions": [{"name": "x", "label": "denial", "patterns": ["a"], "unles": []}]},
         "labeling_functions[0].unles"),
        ({"labeling_functions": [{"name": "x", "label": "denial", "patterns": ["a"]},
                                 {"name": "x", "label": "neutral", "patterns": ["b"]}]}, "duplicate name 'x'"),
    ],
)
def test_bad_rules_file(raw, message):
    with pytest.raises(ConfigError, match=r"^rules.yaml: .*" + message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        parse_rules(raw, "rules.yaml")


def test_unless_blocks_a_vote():
    rules = parse_rules({"labeling_functions": [
        {"name": "acc", "label": "accusation", "patterns": ["abuse"], "unless": ["denied"]}]}, "r")
    assert rules[0]("Reports of abuse surfaced.") == LABEL2ID["accusation"]
    assert rules[0]("He denied abuse.") == ABSTAIN
