"""The int8 schemes compared for issue 19 ("int8 you can trust"), rebuilt from models/stance
and measured the same way: docs/benchmarks.md's table comes from this script.

    python bench/int8_variants.py                       # every variant, quality only
    python bench/int8_variants.py --only shipped dynamic --speed 3000 --speed-only   # timings

For each variant: agreement of its labels with the fp32 export's on the seed sentences and
the real-news dev set, batch dependence (bench/int8_bench.py's `quality`), and the same
figures on 4,056 sentences outside the dev set (the 3,000 real-length bench sentences and
seeds/authored_articles_r2.jsonl), which is what the shipped settings were chosen on: the
dev set is only evaluated. `--speed N`: in-process sentences/s over N real-length
sentences, the chosen variants alternated (3 rounds, median). Builds go to --work
(default /tmp/int8-variants); the calibration data is authored text only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from int8_bench import quality, speed  # noqa: E402

from pipeline import export  # noqa: E402
from pipeline.classifier import StanceClassifier  # noqa: E402
from pipeline.io import read_jsonl  # noqa: E402

MODEL = ROOT / "models" / "stance"
CALIBRATION_FOLDER = ROOT / "models" / "stance-onnx"  # a folder with the model's tokenizer and card (main sets it)


@contextmanager
def settings(**values):
    """pipeline.export's module constants changed for one build."""
    old = {k: getattr(export, k) for k in values}
    for k, v in values.items():
        setattr(export, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(export, k, v)


def graphs(work: Path) -> dict[str, Path]:
    """fp32 graphs: 'shipped' (the export's: Sum + LayerNormalization) and 'skipln' (the
    previous export's: SkipLayerNormalization), from one TorchScript export."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = {"shipped": work / "shipped" / "model.onnx", "skipln": work / "fp32_skipln.onnx"}
    if not out["shipped"].exists():
        export._export(MODEL, work / "shipped", 17)
    if not out["skipln"].exists():
        model = AutoModelForSequenceClassification.from_pretrained(str(MODEL), attn_implementation="eager").eval()
        tok = AutoTokenizer.from_pretrained(str(MODEL))
        example = tok(["The ministry rejected the allegations.", "Critics say the company hid the losses."],
                      padding=True, return_tensors="pt")
        export._first_token_last_layer(model, example)
        names = [n for n in export.INPUTS if n in example]
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, tuple(example[n] for n in names), f"{tmp}/raw.onnx", input_names=names,
                              output_names=["logits"], opset_version=17, dynamo=False,
                              dynamic_axes={**{n: {0: "b", 1: "s"} for n in names}, "logits": {0: "b"}})
            optimize_model(f"{tmp}/raw.onnx", model_type="bert", num_heads=model.config.num_attention_heads,
                           hidden_size=model.config.hidden_size).save_model_to_file(str(out["skipln"]))
    return out


def folder(work: Path, name: str) -> Path:
    """A model folder for the variant: the shipped export's files, its own model.int8.onnx."""
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    for f in (work / "shipped").iterdir():
        if f.name != "model.int8.onnx":
            shutil.copy2(f, d / f.name)
    return d


def calibration_reader(fixed_width: bool):
    """quantize_static's reader over the export's calibration batches."""
    batches = export._calibration_batches(CALIBRATION_FOLDER)
    if fixed_width:  # ORT's Entropy and Percentile calibrators stack the batches: one width
        width = max(b["input_ids"].shape[1] for b in batches)
        batches = [{k: np.pad(v, ((0, 0), (0, width - v.shape[1]))) for k, v in b.items()} for b in batches]

    class Reader:
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)
    return Reader()


def dynamic(src, dst, **kw):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **kw)


def qdq(src, dst, method, exclude_ffn_out=False):
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # the pre-processing writes temporary files into the working folder
        try:
            quant_pre_process(str(src), f"{tmp}/pre.onnx", skip_optimization=True)
            model = onnx.load(f"{tmp}/pre.onnx")
            produced = {o: n for n in model.graph.node for o in n.output}
            excluded = [n.name for n in model.graph.node if n.op_type == "MatMul" and exclude_ffn_out
                        and getattr(produced.get(n.input[0]), "op_type", "") == "BiasGelu"]
            quantize_static(f"{tmp}/pre.onnx", str(dst), calibration_reader(method != "MinMax"),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"], per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=excluded, calibrate_method=getattr(CalibrationMethod, method),
                            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT,
                                           **({"CalibPercentile": 99.999} if method == "Percentile" else {})})
        finally:
            os.chdir(cwd)


def nbits8(src, dst):
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4, bits=8)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(src)), bits=8, block_size=32, is_symmetric=True,
                                     accuracy_level=4, algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(dst), False)


def per_token(src, dst):
    """Dynamic int8 with one scale per token (batch-independent): absmax over the channels,
    symmetric, MatMulIntegerToFloat with a (batch, tokens, 1) scale; Attention stays fp32."""
    import onnx
    from onnx import helper as h
    from onnx import numpy_helper as nh

    m = onnx.load(str(src))
    weights = {t.name: t for t in m.graph.initializer}
    new = [nh.from_array(np.array(1 / 127, np.float32), "pt/inv127"),
           nh.from_array(np.array(127, np.float32), "pt/127"),
           nh.from_array(np.array(1, np.float32), "pt/one"), nh.from_array(np.array(128, np.uint8), "pt/zp"),
           nh.from_array(np.array(1e-12, np.float32), "pt/eps")]
    out, done = [], {}
    for n in m.graph.node:
        if n.op_type != "MatMul" or n.input[1] not in weights:
            out.append(n)
            continue
        x = n.input[0]
        if x not in done:
            p = f"pt/{len(done)}"
            out += [h.make_node("Abs", [x], [p + "/abs"]),
                    h.make_node("ReduceMax", [p + "/abs"], [p + "/max0"], axes=[-1], keepdims=1),
                    h.make_node("Max", [p + "/max0", "pt/eps"], [p + "/max"]),
                    h.make_node("Mul", [p + "/max", "pt/inv127"], [p + "/scale"]),
                    h.make_node("Div", ["pt/127", p + "/max"], [p + "/rscale"]),
                    h.make_node("Mul", [x, p + "/rscale"], [p + "/xs"]),
                    h.make_node("QuantizeLinear", [p + "/xs", "pt/one", "pt/zp"], [p + "/q"])]
            done[x] = p
        w = nh.to_array(weights[n.input[1]]).astype(np.float32)
        ws = np.abs(w).max(0) / 127
        ws[ws == 0] = 1
        new += [nh.from_array(np.clip(np.round(w / ws), -127, 127).astype(np.int8), n.input[1] + "/q"),
                nh.from_array(ws.astype(np.float32), n.input[1] + "/s")]
        out.append(h.make_node("MatMulIntegerToFloat",
                               [done[x] + "/q", n.input[1] + "/q", done[x] + "/scale", n.input[1] + "/s", "pt/zp"],
                               list(n.output), domain="com.microsoft"))
    del m.graph.node[:]
    m.graph.node.extend(out)
    used = {i for n in out for i in n.input}
    kept = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept + new)
    m.opset_import.append(h.make_opsetid("com.microsoft", 1))
    onnx.save(m, str(dst))


def weights_only(src, dst):
    """fp32 compute with per-channel int8-rounded weights: the error of the weights alone."""
    import onnx
    from onnx import numpy_helper as nh

    m = onnx.load(str(src))
    quantized = {n.input[1] for n in m.graph.node if n.op_type in ("MatMul", "Attention")}
    for t in m.graph.initializer:
        if t.name in quantized and len(t.dims) == 2:
            w = nh.to_array(t).astype(np.float32)
            s = np.abs(w).max(0, keepdims=True) / 127
            s[s == 0] = 1
            t.CopyFrom(nh.from_array((np.round(w / s) * s).astype(np.float32), t.name))
    onnx.save(m, str(dst))


def ours(src, dst, **constants):
    """pipeline/export.py's static int8, with some of its constants changed."""
    import onnx

    graph = onnx.load(str(src))
    with settings(**constants):
        ranges = export._activation_ranges(graph, export._calibration_batches(CALIBRATION_FOLDER))
        int8 = export._quantize(graph, ranges)
    export._residual_sums(int8)
    onnx.save(int8, str(dst))


VARIANTS = {  # name: (fp32 graph, builder, what it is)
    "dynamic": ("skipln", dynamic, "previous export: quantize_dynamic, per-channel, MatMul + Attention"),
    "dynamic-reduce-range": ("skipln", lambda s, d: dynamic(s, d, reduce_range=True), "same, reduce_range (7-bit)"),
    "qdq-minmax": ("skipln", lambda s, d: qdq(s, d, "MinMax"), "quantize_static QDQ, MinMax, MatMul, per-channel"),
    "qdq-entropy": ("skipln", lambda s, d: qdq(s, d, "Entropy"), "same, Entropy"),
    "qdq-percentile": ("skipln", lambda s, d: qdq(s, d, "Percentile"), "same, Percentile 99.999"),
    "qdq-minmax-ffn-out-fp32": ("skipln", lambda s, d: qdq(s, d, "MinMax", True), "MinMax, FFN output MatMuls fp32"),
    "matmulnbits-8bit": ("skipln", nbits8, "weight-only MatMulNBits, 8 bits, block 32, accuracy_level 4"),
    "per-token": ("skipln", per_token, "dynamic per-token scale (custom graph), Attention fp32"),
    "weights-only-fp32-compute": ("skipln", weights_only, "fp32 compute, int8-rounded weights (no speed-up)"),
    "static-plain": ("shipped", lambda s, d: ours(s, d, SMOOTH=float("inf"), OUTLIER=float("inf")),
                     "fixed scales, no smoothing, nothing fp32"),
    "static-split": ("shipped", lambda s, d: ours(s, d, SMOOTH=float("inf"), OUTLIER=2.5, MAX_OUTLIERS=16),
                     "fixed scales, channels > 2.5 x median fp32"),
    "static-smooth": ("shipped", lambda s, d: ours(s, d, OUTLIER=float("inf")), "fixed scales, smoothing only"),
    "shipped": ("shipped", None, "fixed scales, smoothing (1.5) + widest channels fp32 (4): pipeline/export.py"),
    "fp32-last-1": ("shipped", lambda s, d: ours(s, d, FP32_LAYERS=(-1,)), "the same, the last encoder layer fp32"),
    "fp32-first-1": ("shipped", lambda s, d: ours(s, d, FP32_LAYERS=(0,)), "the same, the first encoder layer fp32"),
    "fp32-first-2": ("shipped", lambda s, d: ours(s, d, FP32_LAYERS=(0, 1)), "the same, the first two encoder layers fp32"),
}


def table(results: dict) -> str:
    """The markdown table of docs/benchmarks.md from the results."""
    base = results.get("dynamic", {}).get("speed_sentences_per_s", {}).get("median")
    rows = ["| variant | what | seeds | dev set (disagree) | outside the dev set: disagree of 4,056, mean largest "
            "probability difference | batch 1 and 7 vs 32: largest shift, labels changed "
            "| sentences/s vs `dynamic` (one process, alternated) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in VARIANTS:
        r = results.get(name)
        if not r or "agreement_seeds" not in r:
            continue
        dev = r.get("agreement_devset")
        other, batch = r["agreement_outside_devset"], r["batch_dependence"]
        shift = max(batch[k]["max_prob_shift"] for k in ("batch_1_vs_32", "batch_7_vs_32"))
        changed = sum(batch[k]["labels_changed"] for k in ("batch_1_vs_32", "batch_7_vs_32"))
        rate = r.get("speed_sentences_per_s", {}).get("median")
        dev_cell = f"{dev['agree']:.2%} ({dev['disagree']})" if dev else "-"
        speed_cell = f"{rate / base:.2f}x" if rate and base else "-"
        rows.append(f"| {name} | {r['what']} | {r['agreement_seeds']['agree']:.1%} | {dev_cell} "
                    f"| {other['disagree']}, {other['mean_prob_diff']:.4f} | {shift:.1g}, {changed} | {speed_cell} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(VARIANTS), help="these variants (default: all)")
    parser.add_argument("--devset", type=Path, default=ROOT.parent / "shared" / "devset" / "devset.jsonl")
    parser.add_argument("--speed", type=int, default=0, help="sentences for in-process speed (0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--speed-only", action="store_true", help="keep the quality figures of --out, time only")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "int8-variants")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "int8_variants.json")
    args = parser.parse_args()
    from score_bench import real_length_sentences

    global CALIBRATION_FOLDER
    args.work.mkdir(parents=True, exist_ok=True)
    fp32 = graphs(args.work)
    CALIBRATION_FOLDER = args.work / "shipped"
    sets = {"seeds": [r["text"] for r in read_jsonl(ROOT / "seeds" / "gold_labels.jsonl")]}
    if args.devset.exists():
        sets["devset"] = [r["text"] for r in read_jsonl(args.devset)]
    else:
        print(f"{args.devset}: not found, the dev-set agreement is skipped", file=sys.stderr)
    other = real_length_sentences(3000)[0] + [r["text"] for r in
                                              read_jsonl(ROOT / "seeds" / "authored_articles_r2.jsonl")]
    reference = StanceClassifier.load(args.work / "shipped", backend="onnx-fp32")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in [] if args.speed_only else args.only or VARIANTS:
        graph, build, what = VARIANTS[name]
        d = args.work / "shipped" if name == "shipped" else folder(args.work, name)
        if build is not None and not (d / "model.int8.onnx").exists():
            build(fp32[graph], d / "model.int8.onnx")
        res = {"what": what, **quality(d, reference, {**sets, "outside_devset": other}, tuple(sets))}
        results[name] = res
        print(name, json.dumps({k: v for k, v in res.items() if k != "what"}), flush=True)
    if args.speed:
        texts, _ = real_length_sentences(args.speed)
        systems = {n: StanceClassifier.load(args.work / "shipped" if n == "shipped" else args.work / n, backend="onnx")
                   for n in args.only or VARIANTS}
        systems["fp32"] = reference
        rates = speed(systems, texts, args.rounds)
        for n, r in rates.items():
            results.setdefault(n, {})["speed_sentences_per_s"] = r
        results["speed_load_avg_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
