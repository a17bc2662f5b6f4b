"""Real `dvc repro` through train and evaluate, and `dvc exp run -S`, with tiny training
params, into the temporary repo's own MLflow store."""

import json
import sqlite3

import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.slow


def tiny(project):
    """A few steps on a small slice of the authored corpus: real code paths, minutes not hours."""
    corpus = project / "seeds/authored_corpus.jsonl"
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    keep = sorted({r["dispute"] for r in rows})[:4]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows if r["dispute"] in keep and int(r["id"][-2:]) % 4 == 1))
    path = project / "configs/params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(epochs=1, batch_size=16, max_length=32, augment_swaps=1)
    params["corpus"].update(min_sentences=10, min_disputes=4)
    params["evaluate"].update(cv_folds=2, dispute_folds=2, seed_only_epochs=1)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "tiny params"], project, {})


def mlflow_runs(project):
    with sqlite3.connect(project / "mlflow.db") as db:
        return db.execute("select r.run_uuid, p.value from runs r join params p on p.run_uuid = r.run_uuid "
                          "where p.key = 'train.learning_rate'").fetchall()


def test_repro_trains_evaluates_registers_and_exp_run_tracks(project, env):
    tiny(project)
    run(["dvc", "repro"], project, env)
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(metrics["test"]) == {"model", "majority", "weak", "tfidf_lr"}
    assert all(0 <= s["macro_f1"] <= 1 for s in metrics["test"].values())
    assert metrics["cv"]["shipped"]["macro_f1_mean"] >= 0 and metrics["cv"]["seed_only"]["macro_f1_mean"] >= 0
    gap = json.loads((project / "metrics/crossval.json").read_text())["shipped_minus_seed_only"]
    assert gap["ci95_low"] <= gap["macro_f1_pooled"] <= gap["ci95_high"]
    out_of_fold = [json.loads(line) for line in (project / "metrics/crossval_predictions.jsonl").read_text().splitlines()]
    gold = [json.loads(line) for line in (project / "data/labeled.jsonl").read_text().splitlines()]
    assert sorted(r["sentence_id"] for r in out_of_fold) == sorted(r["sentence_id"] for r in gold
                                                                   if r["label_source"] == "gold")
    assert 0 <= metrics["name_swap"]["consistency"] <= 1
    generalization = json.loads((project / "metrics/generalization.json").read_text())
    assert set(generalization["leave_disputes_out"]) >= {"model", "seed_only", "tfidf_lr", "weak", "majority"}
    assert json.loads((project / "metrics/corpus.json").read_text())["disputes"] == 4
    assert (project / "models/stance/model.safetensors").exists()
    assert (project / "models/stance-onnx/model.int8.onnx").exists()  # the export stage
    assert (project / "plots/confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"

    card = json.loads((project / "models/stance/card.json").read_text())
    with sqlite3.connect(project / "mlflow.db") as db:
        keys = {k for (k,) in db.execute("select key from metrics where run_uuid = ?", (card["mlflow_run_id"],))}
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (card["mlflow_run_id"],)))
        alias = db.execute("select alias, version from registered_model_aliases").fetchall()
    assert {"train_loss", "valid_loss", "valid_macro_f1", "test.model.macro_f1", "cv.shipped.macro_f1_mean",
            "cv.shipped.macro_f1_pooled", "cv.tfidf_lr.macro_f1_mean", "generalization.seed_gold.model.macro_f1"} <= keys
    assert len(tags["git_commit"]) == 40 and "data.data/labeled.jsonl" in tags
    assert alias == [("champion", 1)]

    shown = run(["dvc", "metrics", "show", "metrics/evaluate.json"], project, env).stdout
    assert "test.model.macro_f1" in shown and "test.tfidf_lr.macro_f1" in shown
    plots = run(["dvc", "plots", "show", "-o", "plots_html"], project, env)
    assert (project / "plots_html/index.html").exists(), plots.stdout
    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout

    # scoring with the pipeline's model: the default folder, the ONNX export, the registered model
    for extra in ([], ["--backend", "onnx"], ["--model", "models:/stance-classifier@champion"]):
        run(["stance", "score", "seeds/articles", "-o", "scored.jsonl", "--overwrite", *extra], project, env)
        assert len((project / "scored.articles.jsonl").read_text().splitlines()) == 5

    # read before the experiment: `dvc exp run -S` writes its value into the workspace params
    default = yaml.safe_load((project / "configs/params.yaml").read_text())["train"]["learning_rate"]
    run(["dvc", "exp", "run", "-S", "configs/params.yaml:train.learning_rate=0.0005"], project, env)
    rates = sorted(float(v) for _, v in mlflow_runs(project))
    assert rates == sorted([float(default), 0.0005])
