"""The behavioural checks' arithmetic (pipeline/behaviour.py), with a rule as the model, and the
shipped templates' shape."""

from pathlib import Path

import pytest

from pipeline import behaviour
from pipeline.config import ConfigError
from pipeline.labels import LABELS

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "parties": [{"accused": "Acme", "accuser": "the Guild"}, {"accused": "Borr Ltd", "accuser": "a union"}],
    "invariance": [{"label": "accusation", "text": "{accuser} said {accused} had lied."},
                   {"label": "neutral", "text": "{accused} met {accuser}."}],
    "direction": [{"report": "{accuser} said {accused} had cheated.", "denied": "{accused} denied cheating."}],
}


def by_rule(texts: list[str]) -> list[str]:
    """'denied' -> denial; 'said' -> accusation, except about Borr Ltd; else neutral."""
    return ["denial" if "denied" in t else "accusation" if "said" in t and "Borr" not in t else "neutral" for t in texts]


def test_check_counts_invariance_accuracy_and_direction():
    result = behaviour.check(by_rule, CASES)
    # groups: 2 invariance templates, 1 report, 1 denied; the two 'said' groups split by name
    assert result["name_invariance"] == 0.5
    assert result["invariance_accuracy"] == 0.75  # 'lied' about Borr Ltd reads neutral
    assert result["denial_direction"] == 0.5  # the Borr Ltd report is not an accusation
    assert result["sentences"] == 8
    assert [f["template"] for f in result["failures"]] == ["{accuser} said {accused} had lied.",
                                                           "{accuser} said {accused} had cheated."]


def test_sentences_start_with_a_capital():
    seen = []
    behaviour.check(lambda texts: seen.extend(texts) or ["neutral"] * len(texts), CASES)
    assert "The Guild said Acme had lied." in seen and "A union met Borr Ltd." not in seen
    assert all(s[0].isupper() for s in seen)


def test_missing_section_is_named(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("parties: [{accused: A, accuser: B}]\ninvariance: []\n")
    with pytest.raises(ConfigError, match=r"cases.yaml: 'invariance' is missing or empty"):
        behaviour.load_cases(path)
    with pytest.raises(ConfigError, match=r"nowhere.yaml: file not found \(evaluate.behaviour_path\)"):
        behaviour.load_cases(tmp_path / "nowhere.yaml")


def test_shipped_templates_fill_with_every_party_and_use_known_labels():
    cases = behaviour.load_cases(ROOT / "configs" / "behaviour.yaml")
    assert len(cases["parties"]) >= 5 and len(cases["invariance"]) >= 9 and len(cases["direction"]) >= 6
    assert {t["label"] for t in cases["invariance"]} == set(LABELS)  # every class, each its own templates
    for party in cases["parties"]:
        for template in [t["text"] for t in cases["invariance"]] + [d[k] for d in cases["direction"]
                                                                     for k in ("report", "denied")]:
            assert "{" not in template.format(**party)
    assert all("{accused}" in d["denied"] for d in cases["direction"])  # the accused denies it
