"""Real `dvc repro` of the corpus stages in a temporary git repo."""

import json

import pytest

from tests.conftest import run

pytestmark = pytest.mark.slow


def test_repro_labels_every_seed_sentence_and_is_idempotent(project, env):
    run(["dvc", "repro", "label"], project, env)
    rows = [json.loads(line) for line in (project / "data/labeled.jsonl").read_text().splitlines()]
    assert len(rows) > 80 and all(r["label_source"] == "gold" for r in rows)
    metrics = json.loads((project / "metrics/label.json").read_text())
    assert metrics["sentences"] == len(rows) and 0 < metrics["weak_vs_gold"]["coverage"] <= 1

    second = run(["dvc", "repro", "label"], project, env)
    assert "didn't change, skipping" in second.stdout and "Running stage" not in second.stdout

    shown = run(["dvc", "metrics", "show", "metrics/label.json"], project, env).stdout
    assert "weak_vs_gold.accuracy" in shown and "label_counts.denial" in shown


def test_bad_articles_are_skipped_and_new_ones_weak_labelled(project, env):
    articles = project / "seeds/articles"
    (articles / "empty.txt").write_bytes(b"")
    (articles / "binary.txt").write_bytes(b"\x00\x01\x02 PNG")
    (articles / "latin1.txt").write_bytes("Caf\u00e9 cr\u00e8me".encode("latin-1"))
    (articles / "new.txt").write_text(
        "Regulator fines bank over money laundering\n\n"
        "The bank rejected the findings as baseless and said it would appeal.\n", encoding="utf-8")
    result = run(["dvc", "repro", "label"], project, env)
    for name in ("empty.txt: empty file", "binary.txt: binary file", "latin1.txt: not UTF-8"):
        assert name in result.stderr
    rows = [json.loads(line) for line in (project / "data/labeled.jsonl").read_text().splitlines()]
    new = [r for r in rows if r["article_id"] == "new"]
    assert len(new) == 2 and {r["label_source"] for r in new} <= {"weak", "none"}
    assert any(r["label"] == "denial" for r in new)
    report = json.loads((project / "data/segment_report.json").read_text())
    assert len(report["skipped"]) == 3


def test_bad_param_fails_before_work_naming_the_key(project, env):
    params = project / "configs/params.yaml"
    params.write_text(params.read_text().replace("min_words:", "min_wrds:"))
    result = run(["dvc", "repro", "segment"], project, env, check=False)
    assert result.returncode != 0
    assert "configs/params.yaml: segment.min_wrds: unknown key" in result.stderr
    assert not (project / "data/sentences.jsonl").exists()


def test_bad_gold_label_fails_naming_file_and_line(project, env):
    gold = project / "seeds/gold_labels.jsonl"
    lines = gold.read_text().splitlines()
    lines[2] = lines[2].replace('"label": "neutral"', '"label": "neutrl"')
    gold.write_text("\n".join(lines) + "\n")
    result = run(["dvc", "repro", "label"], project, env, check=False)
    assert result.returncode != 0
    assert "seeds/gold_labels.jsonl:3: unknown label 'neutrl'" in result.stderr
