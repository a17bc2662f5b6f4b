"""Real `dvc repro` through train and evaluate, and `dvc exp run -S`, with tiny training
params, into the temporary repo's own MLflow store."""

import json
import sqlite3

import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.slow


def tiny(project):
    path = project / "configs/params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(epochs=1, batch_size=16, max_length=32)
    params["evaluate"]["cv_folds"] = 2
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
    assert metrics["cv"]["model"]["macro_f1_mean"] >= 0
    assert (project / "models/stance/model.safetensors").exists()
    assert (project / "plots/confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"

    card = json.loads((project / "models/stance/card.json").read_text())
    with sqlite3.connect(project / "mlflow.db") as db:
        keys = {k for (k,) in db.execute("select key from metrics where run_uuid = ?", (card["mlflow_run_id"],))}
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (card["mlflow_run_id"],)))
        alias = db.execute("select alias, version from registered_model_aliases").fetchall()
    assert {"train_loss", "valid_loss", "valid_macro_f1", "test.model.macro_f1", "cv.tfidf_lr.macro_f1_mean"} <= keys
    assert len(tags["git_commit"]) == 40 and "data.data/labeled.jsonl" in tags
    assert alias == [("champion", 1)]

    shown = run(["dvc", "metrics", "show", "metrics/evaluate.json"], project, env).stdout
    assert "test.model.macro_f1" in shown and "test.tfidf_lr.macro_f1" in shown
    plots = run(["dvc", "plots", "show", "-o", "plots_html"], project, env)
    assert (project / "plots_html/index.html").exists(), plots.stdout
    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout

    run(["dvc", "exp", "run", "-S", "configs/params.yaml:train.learning_rate=0.0005"], project, env)
    rates = sorted(float(v) for _, v in mlflow_runs(project))
    assert rates == [0.0002, 0.0005]
