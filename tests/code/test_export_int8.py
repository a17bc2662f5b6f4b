"""The int8 ONNX export on a tiny random BERT (no training, a few seconds): its labels and
probabilities do not depend on which sentences share a batch (fixed activation scales), it
keeps the wide channels in fp32, and the export gives the same bytes twice."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.labels import LABELS

SENTENCES = ["The ministry denied the allegations.",
             "Rights groups accused the police of torturing detainees in two provinces last year.",
             "Talks resume on Tuesday.",
             "The company said the report was false and misleading, and that it would sue.",
             "Prosecutors say the mayor took bribes.",
             "A spokesman declined to comment."]
OTHERS = ["Shares fell 4% after the announcement, the steepest drop since March.",
          "Witnesses described soldiers firing on the crowd from rooftops near the square.",
          "The federation rejected claims of doping as a smear."]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT classifier with the base model's tokenizer, random weights, and one
    wide residual channel and one wide feed-forward unit, as the real model has."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from pipeline.classifier import BUNDLED_BASE_MODEL, resolve_base_model

    base = Path(resolve_base_model(BUNDLED_BASE_MODEL))
    folder = tmp_path_factory.mktemp("tiny-bert") / "model"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64, num_labels=3,
                        id2label=dict(enumerate(LABELS)), label2id={lab: i for i, lab in enumerate(LABELS)})
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.bert.encoder.layer[0].attention.output.LayerNorm.weight[5] = 12.0
        model.bert.encoder.layer[0].intermediate.dense.bias[7] = 9.0
    model.save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (base / name).exists():
            shutil.copy2(base / name, folder / name)
    (folder / "card.json").write_text(json.dumps({"max_length": 32, "context": "none", "temperature": 1.0}))
    return folder


@pytest.fixture(scope="module")
def exported(tiny_bert, tmp_path_factory):
    from pipeline.export import _export

    out = tmp_path_factory.mktemp("tiny-onnx")
    _export(tiny_bert, out / "a", 17)
    _export(tiny_bert, out / "b", 17)
    return out / "a", out / "b"


def test_int8_probabilities_do_not_depend_on_the_batch(exported):
    from pipeline.classifier import StanceClassifier

    int8 = StanceClassifier.load(exported[0], backend="onnx", threads=1)
    alone = np.concatenate([int8.predict_proba([text]) for text in SENTENCES])
    for batch_size, texts in ((len(SENTENCES), SENTENCES), (2, SENTENCES), (4, SENTENCES + OTHERS),
                              (3, OTHERS[:1] + SENTENCES[::-1])):
        probs = int8.predict_proba(texts, batch_size)
        probs = probs[[texts.index(t) for t in SENTENCES]]
        assert np.abs(probs - alone).max() < 1e-5, batch_size
        assert (probs.argmax(1) == alone.argmax(1)).all()
    fp32 = StanceClassifier.load(exported[0], backend="onnx-fp32").predict_proba(SENTENCES)
    assert np.abs(fp32 - alone).max() < 0.05  # int8, still the same model


def test_int8_keeps_wide_channels_fp32_and_the_export_is_deterministic(exported):
    import onnx

    graph = onnx.load(str(exported[0] / "model.int8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert "DynamicQuantizeLinear" not in ops and "SkipLayerNormalization" not in ops
    assert ops.count("QAttention") == 1 and "MatMulIntegerToFloat" in ops  # layer 2 is [CLS]-only, unfused
    assert any(n.op_type == "Gather" and n.name.startswith("int8/") for n in graph.node)  # the wide channel
    assert ops.count("BiasGelu") > 2  # the wide unit's own fp32 GELU beside the two layers'
    for name in ("model.onnx", "model.int8.onnx", "card.json"):
        assert (exported[0] / name).read_bytes() == (exported[1] / name).read_bytes(), name


def test_fp32_layers_are_left_unquantised(exported, monkeypatch):
    import onnx

    from pipeline import export

    graph = onnx.load(str(exported[0] / "model.onnx"))
    ranges = export._activation_ranges(graph, export._calibration_batches(exported[0]))
    count = lambda m: sum(n.op_type in ("MatMulIntegerToFloat", "QAttention") for n in m.graph.node)  # noqa: E731
    every = count(export._quantize(graph, ranges))
    monkeypatch.setattr(export, "FP32_LAYERS", (0,))
    first_fp32 = export._quantize(graph, ranges)
    # layer 0 has a fused Attention and three weight MatMuls (attention output, FFN in, FFN out)
    assert count(first_fp32) == every - 4
    assert sum(n.op_type == "Attention" for n in first_fp32.graph.node) == 1


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_the_last_layer_for_the_first_token_only_keeps_the_logits(kind):
    """BERT's pooler and MPNet's head read only the first position, so the export's trimmed
    last layer (one query; MPNet's relative position bias cut to its row) gives the same
    logits, padding included."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, MPNetConfig, MPNetForSequenceClassification

    from pipeline.export import _first_token_last_layer

    torch.manual_seed(0)
    shape = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, num_labels=3)
    config = BertConfig(**shape) if kind == "bert" else MPNetConfig(**shape)
    config._attn_implementation = "eager"  # as the export loads it
    model = (BertForSequenceClassification if kind == "bert" else MPNetForSequenceClassification)(config).eval()
    ids = torch.randint(5, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = mask[2, 2:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    base = getattr(model, kind)
    with torch.inference_mode():
        full = model(**batch).logits
        assert _first_token_last_layer(model, batch)
        hidden = base(**batch).last_hidden_state
        trimmed = model(**batch).logits
    assert hidden.shape[1] == 1 < ids.shape[1]
    assert torch.allclose(full, trimmed, atol=1e-6)


def test_outlier_gemms_give_the_same_logits_bit_for_bit(exported):
    import onnx
    import onnxruntime as ort

    from pipeline import export

    graph = onnx.load(str(exported[0] / "model.onnx"))
    batches = export._calibration_batches(exported[0])
    before = export._quantize(graph, export._activation_ranges(graph, batches))
    export._residual_sums(before)
    after = onnx.ModelProto()
    after.CopyFrom(before)
    export._outlier_gemms(after)
    gemms = [n for n in after.graph.node if n.op_type == "Gemm" and n.name.startswith("int8/")]
    assert gemms and not any(n.name.endswith("/sum") for n in after.graph.node if n.op_type == "Add")
    runs = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (before, after)]
    names = [i.name for i in runs[0].get_inputs()]
    for batch in batches[:4]:
        feed = {n: batch[n].astype(np.int64) for n in names}
        a, b = (r.run(["logits"], feed)[0] for r in runs)
        assert np.array_equal(a, b)


def test_mpnet_attention_exports_as_one_node_with_the_same_logits(tmp_path):
    """MPNet's attention (relative position bias and padding mask as the attention bias)
    exports as one MultiHeadAttention node per layer, the trimmed last layer included, and
    ONNX Runtime gives the logits torch gave before the change."""
    import onnx
    import onnxruntime as ort
    import torch
    from transformers import MPNetConfig, MPNetForSequenceClassification

    from pipeline.export import _first_token_last_layer, _fused_attention

    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, num_labels=3)
    config._attn_implementation = "eager"
    model = MPNetForSequenceClassification(config).eval()
    ids = torch.randint(5, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = mask[2, 2:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    with torch.inference_mode():
        before = model(**batch).logits.numpy()
        assert _fused_attention(model, batch) and _first_token_last_layer(model, batch)
        path = tmp_path / "tiny.onnx"
        torch.onnx.export(model, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "b", 1: "s"} for n in ("input_ids", "attention_mask")})
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("MultiHeadAttention") == 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    after = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert np.abs(after - before).max() < 1e-5
    # another batch shape than the one traced
    short = {"input_ids": ids[:2, :4].numpy(), "attention_mask": mask[:2, :4].numpy()}
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in short.items()}).logits.numpy()
    assert np.abs(session.run(["logits"], short)[0] - expected).max() < 1e-5
