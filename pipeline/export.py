"""Stage `export`: the trained model as ONNX, fp32 and int8, for the `onnx` scoring backend.

`torch.onnx.export` writes `model.onnx` (+ `model.onnx.data`, its weights: keep the two
together); `onnxruntime.quantization.quantize_dynamic` makes `model.int8.onnx` from it.
The folder also gets the tokenizer, config.json (the label map) and card.json, so it is a
complete model folder for `stance score --backend onnx --model <folder>`.
(optimum-onnx is not used: it pins an old transformers.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline.classifier import ONNX_FILES

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
COPIED = ("config.json", "card.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def export_onnx(model_dir: Path, out_dir: Path, opset: int = 18) -> dict[str, int]:
    """Export `model_dir` (a safetensors model folder) into `out_dir`; returns file sizes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), use_safetensors=True, trust_remote_code=False).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    example = tokenizer(["The ministry rejected the allegations.", "Critics say the company hid the losses."],
                        padding=True, return_tensors="pt")
    names = [n for n in INPUTS if n in example]
    fp32 = out_dir / ONNX_FILES["onnx-fp32"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with torch.inference_mode():
        torch.onnx.export(model, tuple(example[n] for n in names), str(fp32), input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=opset, dynamo=True, external_data=True)
    quantize_dynamic(str(fp32), str(out_dir / ONNX_FILES["onnx"]), weight_type=QuantType.QInt8)
    for name in COPIED:
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, out_dir / name)
    card = out_dir / "card.json"
    data = json.loads(card.read_text()) if card.exists() else {}
    data["onnx"] = {"opset": opset, "exported_from": str(model_dir), "files": sorted(ONNX_FILES.values())}
    card.write_text(json.dumps(data, indent=2) + "\n")
    return {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.suffix in (".onnx", ".data")}
