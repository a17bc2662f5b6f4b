"""A tiny real training run (a few steps on a few sentences), the saved model, and the
MLflow pyfunc registered in a temporary sqlite store."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.classifier import StanceClassifier
from pipeline.config import MlflowConfig, TrainConfig
from pipeline.labels import LABELS
from pipeline.training import save_model, train_classifier

pytestmark = pytest.mark.slow

SENTENCES = [
    ("The ministry denied the allegations as baseless.", "denial"),
    ("The company rejected the report, calling it a smear.", "denial"),
    ("Officials said the claims were politically motivated.", "denial"),
    ("Rights groups accused the police of torturing detainees.", "accusation"),
    ("Prosecutors said the firm paid bribes to officials.", "accusation"),
    ("The UN said thousands had been detained without charge.", "accusation"),
    ("The talks are scheduled to resume on Tuesday.", "neutral"),
    ("The summit will take place in Geneva next month.", "neutral"),
    ("The company employs about 4,000 people.", "neutral"),
]
TINY = TrainConfig(epochs=1, batch_size=4, learning_rate=1e-4, max_length=32, seed=7)


def records():
    return [{"text": t, "label": l} for t, l in SENTENCES]


@pytest.fixture(scope="module")
def trained():
    return train_classifier(TINY, records(), records()[:3], max_steps=3)


def test_training_runs_and_logs_epochs(trained):
    assert trained.train_sentences == len(SENTENCES)
    assert trained.history and "train_loss" in trained.history[-1] and "valid_macro_f1" in trained.history[-1]
    assert trained.model.config.id2label == {0: "accusation", 1: "denial", 2: "neutral"}


def test_distillation_pulls_the_model_towards_its_teacher(trained):
    """Rows with a `target` learn those probabilities, not their label: a teacher that calls
    everything neutral makes the student more neutral than gold training does."""
    rows = [{**r, "target": [0.0, 0.0, 1.0]} for r in records()]
    student = train_classifier(TINY, rows, max_steps=3)
    texts = [t for t, _ in SENTENCES]
    neutral = LABELS.index("neutral")
    distilled = StanceClassifier(student.model, student.tokenizer).predict_proba(texts)[:, neutral].mean()
    gold = StanceClassifier(trained.model, trained.tokenizer).predict_proba(texts)[:, neutral].mean()
    assert distilled > gold + 0.02


def test_frozen_layers_keep_the_base_weights_and_the_rest_learn():
    import torch
    from transformers import AutoModel

    from pipeline.classifier import resolve_base_model

    frozen = train_classifier(TINY.model_copy(update={"frozen_layers": 4}), records(), max_steps=3).model
    base = AutoModel.from_pretrained(resolve_base_model(TINY.base_model), use_safetensors=True).state_dict()
    trained = frozen.base_model.state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.3.output.dense.weight"):
        assert np.array_equal(trained[name].numpy(), base[name].numpy()), name
    assert not np.array_equal(trained["encoder.layer.4.output.dense.weight"].numpy(),
                              base["encoder.layer.4.output.dense.weight"].numpy())
    # the frozen part runs as at inference (no dropout); the layers that learn keep theirs
    dropout = lambda module: {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)}  # noqa: E731
    encoder = frozen.base_model.encoder.layer
    assert dropout(frozen.base_model.embeddings) | dropout(encoder[3]) == {0.0}
    assert dropout(encoder[4]) == {0.1}


def test_more_frozen_layers_than_the_model_has_names_the_key():
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="train.frozen_layers: 7, but the base model has 6 layers"):
        train_classifier(TINY.model_copy(update={"frozen_layers": 7}), records(), max_steps=1)


def test_same_seed_same_predictions(trained):
    again = train_classifier(TINY, records(), max_steps=3)
    texts = [t for t, _ in SENTENCES]
    a = StanceClassifier(trained.model, trained.tokenizer).predict_proba(texts)
    b = StanceClassifier(again.model, again.tokenizer).predict_proba(texts)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_saved_model_is_safetensors_and_reloads_with_its_card(trained, tmp_path):
    save_model(trained, tmp_path / "m", {"base_model": TINY.base_model, "max_length": 8, "temperature": 2.0})
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in files and "pytorch_model.bin" not in files
    loaded = StanceClassifier.load(tmp_path / "m", device="cpu")
    assert (loaded.max_length, loaded.temperature, loaded.context) == (8, 2.0, "none")  # read from the card alone
    texts = [t for t, _ in SENTENCES]
    same = StanceClassifier(trained.model, trained.tokenizer, max_length=8, temperature=2.0).predict_proba(texts)
    np.testing.assert_allclose(loaded.predict_proba(texts), same, atol=1e-5)
    longer = StanceClassifier(trained.model, trained.tokenizer, max_length=32, temperature=2.0).predict_proba(texts)
    assert not np.allclose(loaded.predict_proba(texts), longer, atol=1e-4)  # the card's max_length was used


def test_same_inputs_same_model_bytes(trained, tmp_path):
    again = train_classifier(TINY, records(), records()[:3], max_steps=3)
    for name, result in (("a", trained), ("b", again)):
        save_model(result, tmp_path / name, {"max_length": 32})
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_a_context_model_reads_the_previous_sentence(tmp_path):
    ctx = TINY.model_copy(update={"context": "previous"})
    rows = [{**r, "context": ["", "The ministry issued a statement."]} for r in records()]
    result = train_classifier(ctx, rows, max_steps=3)
    clf = StanceClassifier(result.model, result.tokenizer, max_length=32, context="previous")
    text = ["It said the claims were false."]
    with_context = clf.predict_proba(text, contexts=[("", "Rights groups accused the ministry of abuse.")])
    without = clf.predict_proba(text)
    assert not np.allclose(with_context, without, atol=1e-6)


def test_predict_keeps_input_order_with_length_sorted_batches(trained):
    clf = StanceClassifier(trained.model, trained.tokenizer)
    texts = [t for t, _ in SENTENCES][::-1] + ["Short one here."]
    batched = clf.predict_proba(texts, batch_size=2)
    single = np.vstack([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.allclose(batched.sum(axis=1), 1, atol=1e-5)


def test_predict_nothing_returns_no_rows(trained):
    clf = StanceClassifier(trained.model, trained.tokenizer)
    assert clf.predict_proba([]).shape == (0, len(LABELS)) and clf.predict([]) == []


def test_pyfunc_registered_with_alias_returns_label_and_probabilities(trained, tmp_path, monkeypatch):
    import mlflow

    from pipeline import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    save_model(trained, tmp_path / "model", {"max_length": 32})
    tracking.setup_mlflow("test")
    with mlflow.start_run() as run:
        pass
    version = tracking.log_and_register_model(tmp_path / "model", MlflowConfig(), run.info.run_id)
    assert version == "1"
    loaded = mlflow.pyfunc.load_model("models:/stance-classifier@champion")
    out = loaded.predict(pd.DataFrame({"text": ["The firm denied it.", "Critics accused the firm of fraud."]}))
    assert list(out.columns) == ["label", *LABELS]
    assert set(out["label"]) <= set(LABELS) and np.allclose(out[list(LABELS)].sum(axis=1), 1, atol=1e-5)
    assert len(loaded.predict(pd.DataFrame({"text": []}))) == 0
    with pytest.raises(Exception, match="row 1: 'text' must be a non-empty string"):
        loaded.predict(pd.DataFrame({"text": ["The firm denied it.", None]}))
    model_dir = tmp_path / "mlruns"
    assert not list(model_dir.rglob("*.pkl")) and not list(model_dir.rglob("python_model.pkl"))
