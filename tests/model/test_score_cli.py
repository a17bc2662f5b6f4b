"""`stance score` end to end with a real (tiny) model: every output format, exit codes,
pre-split sentences, the HTML report, and the ONNX export and backend."""

import json
import logging
import shutil
import subprocess
import sys

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


def test_segmentation_workers_give_the_same_rows(root, tiny_model, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    for workers in (0, 2):
        result = score(inputs, "-o", tmp_path / f"w{workers}.jsonl", "--model", tiny_model, "--workers", workers, root=root)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "w2.jsonl").read_text() == (tmp_path / "w0.jsonl").read_text() != ""


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
    assert result.exit_code == 2 and "cannot load" in result.output and not (tmp_path / "s.jsonl").exists()
    assert score(inputs, "-o", tmp_path / "s.xlsx", root=root).exit_code == 2


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

    from pipeline.export import first_token_last_layer

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
