"""`stance score` end to end with a real (tiny) model: every output format, exit codes,
pre-split sentences, the HTML report, and the ONNX export and backend."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import EXIT_SKIPPED, app

pytestmark = pytest.mark.slow

ARTICLE = ("Beijing rejected the report as a smear campaign.\n"
           "Rights groups accused the authorities of mass detentions.\n"
           "The talks resume in Geneva on Monday.\n")


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.txt").write_text(ARTICLE)
    (folder / "two.html").write_text(f"<html><body><article><p>{ARTICLE}</p></article></body></html>")
    return folder


def score(*args, root=None):
    result = CliRunner().invoke(app, ["score", *map(str, args), "--params", str(root / "configs/params.yaml")])
    return result


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_each_output_format(root, tiny_model, inputs, tmp_path, suffix, monkeypatch):
    monkeypatch.chdir(root)
    out = tmp_path / f"scores{suffix}"
    result = score(inputs, "-o", out, "--model", tiny_model, "--html", tmp_path / "r.html", root=root)
    assert result.exit_code == 0, result.output
    read = {".jsonl": lambda p: pd.read_json(p, lines=True), ".csv": pd.read_csv, ".parquet": pd.read_parquet}[suffix]
    sentences, summary = read(out), read(tmp_path / f"scores.articles{suffix}")
    assert len(sentences) == 6 and set(sentences["label"]) <= {"accusation", "denial", "neutral"}
    assert np.allclose(sentences[["p_accusation", "p_denial", "p_neutral"]].sum(axis=1), 1, atol=1e-4)
    assert sorted(summary["article_id"]) == ["one", "two"] and summary["sentences"].tolist() == [3, 3]
    assert "Rights groups accused" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_feed_workers_give_the_same_rows(root, tiny_model, tiny_onnx, inputs, tmp_path, monkeypatch, backend):
    """Articles and pre-split sentences segmented and tokenised in two worker processes: the
    bytes of one process, with either backend's tokenizer sent to the workers."""
    monkeypatch.chdir(root)
    model = tiny_model if backend == "torch" else tiny_onnx
    lines = tmp_path / "sentences.jsonl"
    lines.write_text("".join(json.dumps({"article_id": f"a{i // 250}", "text": text}) + "\n"
                             for i, text in enumerate(ARTICLE.splitlines() * 200)))
    for name, args in (("articles", [inputs]), ("pre-split", [lines, "--sentences"])):
        for workers in (0, 2):
            result = score(*args, "-o", tmp_path / f"{name}-{workers}.jsonl", "--model", model, "--backend", backend,
                           "--workers", workers, root=root)
            assert result.exit_code == 0, result.output
        assert (tmp_path / f"{name}-2.jsonl").read_text() == (tmp_path / f"{name}-0.jsonl").read_text() != ""


def test_bad_inputs_give_exit_code_3_and_one_line_each(root, tiny_model, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    (inputs / "empty.txt").write_text("")
    (inputs / "bin.txt").write_bytes(b"\x00\x01")
    result = score(inputs, "-o", tmp_path / "s.jsonl", "--model", tiny_model, root=root)
    assert result.exit_code == EXIT_SKIPPED == 3
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 2 and any("bin.txt: binary file" in s for s in skipped)
    assert "2 articles" in result.output and "2 inputs skipped" in result.output


def test_presplit_sentences_carry_the_input_id_and_text(root, tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    src = tmp_path / "sents.jsonl"
    src.write_text('{"id": "q-1", "text": "The company denied it."}\n{"id": "q-2", "text": "Regulators accused it of fraud."}\n')
    out = tmp_path / "s.jsonl"
    assert score(src, "-o", out, "--sentences", "--model", tiny_model, root=root).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["sentence_id"], r["text"], r["start"]) for r in rows] == [
        ("q-1", "The company denied it.", None), ("q-2", "Regulators accused it of fraud.", None)]


def test_a_bad_model_or_option_fails_before_any_work(root, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    result = score(inputs, "-o", tmp_path / "s.jsonl", "--model", tmp_path / "nowhere", root=root)
    assert result.exit_code == 2 and not (tmp_path / "s.jsonl").exists()
    assert f"{tmp_path / 'nowhere'}: no such model folder" in result.output and "Repo id" not in result.output
    (tmp_path / "empty").mkdir()
    result = score(inputs, "-o", tmp_path / "s.jsonl", "--model", tmp_path / "empty", root=root)
    assert result.exit_code == 2 and f"{tmp_path / 'empty' / 'card.json'}: missing" in result.output
    assert score(inputs, "-o", tmp_path / "s.xlsx", root=root).exit_code == 2


def test_the_onnx_hint_names_a_folder_of_its_own(root, tiny_model, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    result = score(inputs, "-o", tmp_path / "s.jsonl", "--backend", "onnx", "--model", tiny_model, root=root)
    assert result.exit_code == 2 and f"-o {tiny_model}-onnx" in result.output


def test_score_works_from_another_folder(root, tiny_model, inputs, tmp_path, env):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([str(Path(sys.executable).parent / "stance"), "score", str(inputs), "-o", "out.jsonl",
                           "--model", str(tiny_model)], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len((elsewhere / "out.jsonl").read_text().splitlines()) == 6
    assert oct((elsewhere / "out.jsonl").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_outputs_are_readable_by_the_team(root, tiny_model, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    out = tmp_path / "s.parquet"
    assert score(inputs, "-o", out, "--model", tiny_model, "--html", tmp_path / "r.html", root=root).exit_code == 0
    for path in (out, tmp_path / "s.articles.parquet", tmp_path / "r.html"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask(), path


def test_onnx_export_agrees_with_torch(root, tiny_model, inputs, tmp_path, monkeypatch, caplog):
    from pipeline.classifier import StanceClassifier

    monkeypatch.chdir(root)
    onnx_dir = tmp_path / "onnx"
    with caplog.at_level(logging.WARNING):
        assert CliRunner().invoke(app, ["export", "--model", str(tiny_model), "-o", str(onnx_dir)]).exit_code == 0
    # the quantizer's "consider pre-processing" notice is dropped, and only for the export
    assert "pre-processing" not in caplog.text and not logging.getLogger().filters
    assert {"model.onnx", "model.int8.onnx", "config.json", "tokenizer.json"} <= {
        p.name for p in onnx_dir.iterdir()}
    assert json.loads((onnx_dir / "card.json").read_text())["onnx"]["last_layer_first_token_only"] is True
    texts = ARTICLE.splitlines() + ["A much longer sentence, with clauses, that the ministry said was false."]
    torch_probs = StanceClassifier.load(tiny_model).predict_proba(texts)
    fp32 = StanceClassifier.load(onnx_dir, backend="onnx-fp32").predict_proba(texts)
    int8 = StanceClassifier.load(onnx_dir, backend="onnx").predict_proba(texts)
    assert np.abs(fp32 - torch_probs).max() < 1e-4  # the first-token last layer changes nothing
    assert int8.shape == (len(texts), 3) and np.allclose(int8.sum(axis=1), 1, atol=1e-5)
    # batches on one thread or run two at a time: the same batches, so the same numbers
    single = StanceClassifier.load(onnx_dir, backend="onnx", threads=1)
    double = StanceClassifier.load(onnx_dir, backend="onnx", threads=2)
    assert (single.runner.workers, double.runner.workers) == (1, 2)
    assert np.array_equal(single.predict_proba(texts, 2), double.predict_proba(texts, 2))
    result = score(inputs, "-o", tmp_path / "o.jsonl", "--backend", "onnx", "--model", onnx_dir, root=root)
    assert result.exit_code == 0, result.output
    # the ONNX backends start without transformers or torch (seconds and memory at start-up)
    imported = subprocess.run(
        [sys.executable, "-c", "import sys; from pipeline.classifier import StanceClassifier; "
         f"StanceClassifier.load({str(onnx_dir)!r}, backend='onnx').predict(['A test.']); "
         "print(sorted({'torch', 'transformers'} & set(sys.modules)))"],
        cwd=root, capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(onnx_dir, no_tokenizer, ignore=shutil.ignore_patterns("tokenizer.json"))
    result = score(inputs, "-o", tmp_path / "t.jsonl", "--backend", "onnx", "--model", no_tokenizer, root=root)
    assert result.exit_code == 2 and f"{no_tokenizer / 'tokenizer.json'}: missing" in result.output


def test_the_export_computes_the_last_layer_for_the_first_token_only(tiny_model):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pipeline.export import _first_token_last_layer as first_token_last_layer

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    batch = tokenizer(ARTICLE.splitlines() + ["Short."], padding=True, return_tensors="pt")
    with torch.inference_mode():
        full = model(**batch).logits
        assert first_token_last_layer(model, batch)
        hidden = model.bert(**batch).last_hidden_state
        trimmed = model(**batch).logits
    assert hidden.shape[1] == 1 < batch["input_ids"].shape[1]  # one position out of the last layer
    assert torch.allclose(full, trimmed, atol=1e-5)


def test_review_export_writes_the_label_studio_config_and_says_what_to_do_when_all_is_gold(
        tiny_model, tmp_path, monkeypatch):
    from pipeline import paths

    monkeypatch.chdir(tmp_path)
    paths.DATA.mkdir()
    row = {"sentence_id": "s1", "article_id": "a", "index": 0, "start": 0, "end": 20, "paragraph": 0,
           "text": "The firm denied it.", "label": "denial", "label_source": "gold", "weak_label": None}
    paths.LABELED.write_text(json.dumps(row) + "\n")
    result = CliRunner().invoke(app, ["review", "export", "-o", "r.csv", "--model", str(tiny_model)])
    assert result.exit_code == 2 and "nothing to review" in result.output and "seeds/articles/" in result.output
    paths.LABELED.write_text(json.dumps({**row, "label_source": "weak", "weak_label": "denial"}) + "\n")
    result = CliRunner().invoke(app, ["review", "export", "-o", "r.csv", "--model", str(tiny_model),
                                      "--label-studio", "tasks.json"])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "tasks.label_config.xml").read_text()
    assert '<Choices name="label" toName="text"' in config and all(f'"{lab}"' in config for lab in
                                                                   ("accusation", "denial", "neutral"))
    assert json.loads((tmp_path / "tasks.json").read_text())[0]["data"]["sentence_id"] == "s1"


def test_a_killed_run_resumes_with_every_article_once(root, tiny_model, tmp_path, env):
    """SIGKILL mid-run (no clean-up of any kind), then the same command again."""
    import os
    import signal
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(50):  # 4,500 sentences: two windows of 4,096, so a kill can fall between them
        (folder / f"a{i:02d}.txt").write_text("".join(f"Line {j} of article {i}: the ministry denied the report.\n"
                                                      for j in range(90)))
    out = tmp_path / "s.jsonl"
    command = [str(Path(sys.executable).parent / "stance"), "score", str(folder), "-o", str(out), "--model",
               str(tiny_model), "--batch-size", "64", "--quiet"]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = tmp_path / "s.articles.jsonl"
    deadline = time.time() + 600  # a safety net only: on a loaded 2-core machine the first window can take minutes
    while time.time() < deadline and not (summary.exists() and summary.read_text().count("\n") >= 2):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = summary.read_text().count("\n")
    assert 2 <= done_before < 50, "the run was not cut short mid-way"
    again = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    summaries = [json.loads(line) for line in summary.read_text().splitlines()]
    assert sorted(s["article_id"] for s in summaries) == [f"a{i:02d}" for i in range(50)]
    per_article = {}
    for r in rows:
        per_article.setdefault(r["article_id"], []).append(r["index"])
    assert all(indexes == list(range(len(indexes))) for indexes in per_article.values())  # no duplicates, no gaps
    assert {s["article_id"]: s["sentences"] for s in summaries} == {a: len(i) for a, i in per_article.items()}


@pytest.mark.parametrize("where", ["missing", "empty folder"])
def test_nothing_scored_names_no_output(root, tiny_model, tmp_path, monkeypatch, where):
    monkeypatch.chdir(root)
    source = tmp_path / where.replace(" ", "_")
    if where == "empty folder":
        source.mkdir()
    result = score(source, "-o", tmp_path / "s.jsonl", "--model", tiny_model, root=root)
    assert result.exit_code == 3 and "nothing written" in result.output and "s.jsonl" not in result.output.split(
        "score:")[-1]
    assert not (tmp_path / "s.jsonl").exists()


def test_eval_set_end_to_end_with_each_backend_and_files(root, tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    fixture = root / "tests/fixtures/evalset.jsonl"
    result = CliRunner().invoke(app, ["eval-set", str(fixture), "--model", str(tiny_model), "-o",
                                      str(tmp_path / "r.json"), "--errors", str(tmp_path / "e.csv")])
    assert result.exit_code == 0, result.output
    assert "all" in result.output and "sure" in result.output and "per group" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["all"]["sentences"] == 7 and report["sure"]["sentences"] == 6
    errors = pd.read_csv(tmp_path / "e.csv")
    assert len(errors) == len(report["errors"]) and list(errors.columns[:5]) == ["id", "group", "sure", "gold", "predicted"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "A b c.", "label": "maybe"}\n')
    result = CliRunner().invoke(app, ["eval-set", str(bad), "--model", str(tiny_model)])
    assert result.exit_code == 2 and f"{bad}:1: unknown label 'maybe'" in result.output


def test_eval_set_logs_to_the_run_that_trained_the_model(root, tiny_model, tmp_path, monkeypatch):
    """--mlflow finds the run by the model's md5 in any experiment, and refuses a model no run made."""
    import mlflow

    from pipeline import tracking

    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        unknown = CliRunner().invoke(app, ["eval-set", str(root / "tests/fixtures/evalset.jsonl"), "--model",
                                           str(tiny_model), "--mlflow"])
        assert unknown.exit_code == 2 and "no MLflow run" in unknown.output
        experiment = mlflow.create_experiment("elsewhere", artifact_location=(tmp_path / "mlruns").as_uri())
        with mlflow.start_run(experiment_id=experiment, tags={"model_md5": tracking.folder_md5(tiny_model)}) as run:
            pass
        result = CliRunner().invoke(app, ["eval-set", str(root / "tests/fixtures/evalset.jsonl"), "--model",
                                          str(tiny_model), "--mlflow", "--prefix", "mine", "--errors",
                                          str(tmp_path / "e.csv")])
        assert result.exit_code == 0 and run.info.run_id in result.output, result.output
        logged = mlflow.get_run(run.info.run_id)
        assert {"mine.all.macro_f1", "mine.sure.macro_f1"} <= set(logged.data.metrics)
        assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "mine")] == ["mine/e.csv"]
    finally:
        mlflow.set_tracking_uri(None)


def test_the_torch_backend_reads_the_folders_tokenizer_json_with_transformers_numbers(tiny_model):
    """A model folder's torch backend tokenises with JsonTokenizer (its shortcut, not
    transformers' tokenizer): the same probabilities as with transformers' tokenizer, bit for
    bit, single sentences and sentences with context."""
    from transformers import AutoTokenizer

    from pipeline.classifier import JsonTokenizer, StanceClassifier, inference_settings

    ours = StanceClassifier.load(tiny_model, device="cpu")
    assert isinstance(ours.tokenizer, JsonTokenizer) and ours.tokenizer.shortcut is not None
    reference = StanceClassifier(ours.runner.model, AutoTokenizer.from_pretrained(str(tiny_model)),
                                 **inference_settings(tiny_model))
    texts = ARTICLE.splitlines() + ["Élysée «déni» naïve café", "long " * 80, ""]
    assert np.array_equal(ours.predict_proba(texts, batch_size=2), reference.predict_proba(texts, batch_size=2))
    contexts = [("Headline here", "The previous sentence.")] * len(texts)
    for mode in ("previous", "headline"):
        ours.context = reference.context = mode
        assert np.array_equal(ours.predict_proba(texts, 2, contexts), reference.predict_proba(texts, 2, contexts))
