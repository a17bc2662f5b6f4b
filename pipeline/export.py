"""Stage `export`: models/stance as ONNX, fp32 and int8 -> models/stance-onnx/, for the
`onnx` scoring backends (`stance export` exports any model folder).

1. `torch.onnx.export` (TorchScript exporter, eager attention) writes the graph, with the
   last encoder layer computed for the first ([CLS]) position only where the model is a
   BERT classifier (its pooler reads nothing else): the same logits, ~12% less ONNX Runtime
   time (docs/benchmarks.md);
2. ONNX Runtime's transformer optimizer fuses it (Attention, EmbedLayerNormalization,
   SkipLayerNormalization, BiasGelu): `model.onnx`, the fp32 model;
3. `quantize_dynamic` makes `model.int8.onnx`: per-channel int8 weights for the MatMul and
   Attention nodes; the embeddings and the pooler/classifier head stay fp32, which kept
   label agreement with torch highest at nearly the same speed (docs/benchmarks.md).
The folder also gets the tokenizer, config.json (the label map) and card.json, so it is a
complete model folder for `stance score --backend onnx --model <folder>`.
(optimum-onnx is not used: it pins an old transformers.)
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from pipeline import paths
from pipeline.classifier import ONNX_FILES

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
COPIED = ("config.json", "card.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def run(model_dir: Path = paths.MODEL_DIR, out_dir: Path = paths.ONNX_DIR, opset: int = 17) -> str:
    """Export `model_dir` (a safetensors model folder) into `out_dir`."""
    from pipeline.io import InputError

    if not (Path(model_dir) / "model.safetensors").exists():
        raise InputError(f"{model_dir}: no model.safetensors here (train one with `dvc repro`)")
    sizes = _export(Path(model_dir), Path(out_dir), opset)
    return "export: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()) + f" -> {out_dir}"


def _export(model_dir: Path, out_dir: Path, opset: int) -> dict[str, int]:
    """The ONNX files written into `out_dir`, with their sizes."""
    import tempfile
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the stage's log
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # eager attention exports as plain ops that the optimizer can fuse into one Attention node
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), use_safetensors=True, trust_remote_code=False, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    example = tokenizer(["The ministry rejected the allegations.", "Critics say the company hid the losses."],
                        padding=True, return_tensors="pt")
    trimmed = _first_token_last_layer(model, example)
    names = [n for n in INPUTS if n in example]
    fp32 = out_dir / ONNX_FILES["onnx-fp32"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        raw = Path(tmp) / "raw.onnx"
        with torch.inference_mode():
            torch.onnx.export(model, tuple(example[n] for n in names), str(raw), input_names=names,
                              output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                              opset_version=opset, dynamo=False)
        fused = optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size)
        fused.save_model_to_file(str(fp32))
    # quantize_dynamic logs "consider pre-processing" for any graph without its marker; the
    # transformer optimizer above has done that work (fusion, shapes), so the notice only
    # confuses. Drop that one record, not the rest of the root logger's warnings
    root = logging.getLogger()
    root.addFilter(_drop_preprocessing_notice)
    try:
        quantize_dynamic(str(fp32), str(out_dir / ONNX_FILES["onnx"]), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(_drop_preprocessing_notice)
    for name in COPIED:
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, out_dir / name)
    card = out_dir / "card.json"
    data = json.loads(card.read_text()) if card.exists() else {}
    data["onnx"] = {"opset": opset, "files": sorted(ONNX_FILES.values()),
                    "last_layer_first_token_only": trimmed}
    card.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.suffix in (".onnx", ".data")}


def _drop_preprocessing_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Please consider")


def _first_token_last_layer(model, example) -> bool:
    """Make a BERT classifier's last encoder layer compute the first ([CLS]) position only.

    BertForSequenceClassification's pooler reads only that position of the last layer, so
    its query, attention output and feed-forward for every other token are wasted work:
    10 of every 72 weight multiplications per token in a 6-layer encoder. Keys and values
    still come from every token, so the logits are the same (checked here on `example`;
    max |difference| ~5e-7 on the seed sentences). Returns whether the model was changed;
    other architectures export as they are.
    """
    import torch
    from transformers.models.bert.modeling_bert import BertLayer, eager_attention_forward

    bert = getattr(model, "bert", None)
    if model.config.model_type != "bert" or bert is None or bert.pooler is None \
            or not isinstance(bert.encoder.layer[-1], BertLayer):
        return False

    class FirstTokenLayer(torch.nn.Module):
        def __init__(self, layer: BertLayer):
            super().__init__()
            self.layer = layer

        def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
            attention, first = self.layer.attention, hidden_states[:, :1]
            heads = attention.self.num_attention_heads, attention.self.attention_head_size
            split = lambda x: x.view(x.shape[0], -1, *heads).transpose(1, 2)  # noqa: E731
            if attention_mask is not None:  # (batch, 1, query, key): keep the first query's row
                attention_mask = attention_mask[:, :, :1, :]
            context, _ = eager_attention_forward(
                attention.self, split(attention.self.query(first)), split(attention.self.key(hidden_states)),
                split(attention.self.value(hidden_states)), attention_mask, scaling=attention.self.scaling)
            attended = attention.output(context.reshape(first.shape), first)
            return self.layer.output(self.layer.intermediate(attended), attended)

    with torch.inference_mode():
        before = model(**example).logits
        bert.encoder.layer[-1] = FirstTokenLayer(bert.encoder.layer[-1])
        after = model(**example).logits
    if not torch.allclose(before, after, atol=1e-4):
        raise RuntimeError(f"first-token export changed the logits by {(before - after).abs().max():.2e}")
    return True
