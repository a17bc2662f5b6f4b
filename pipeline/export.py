"""Stage `export`: models/stance as ONNX, fp32 and int8 -> models/stance-onnx/, for the
`onnx` scoring backends (`stance export` exports any model folder).

1. `torch.onnx.export` (TorchScript exporter, eager attention) writes the graph, with the
   last encoder layer computed for the first ([CLS], <s>) position only where the model is
   a BERT or MPNet classifier (its head reads nothing else): the same logits, less ONNX
   Runtime time, since the other positions' work in that layer is skipped
   (docs/benchmarks.md);
2. ONNX Runtime's transformer optimizer fuses it (Attention, EmbedLayerNormalization,
   BiasGelu), but not into SkipLayerNormalization: each residual sum (bias, sublayer output,
   residual) is one `Sum` before a plain LayerNormalization, which ORT's CPU kernels run
   faster than SkipLayerNormalization (docs/benchmarks.md; and ORT does not re-fuse a `Sum`):
   `model.onnx`, the fp32 model;
3. `_quantize` makes `model.int8.onnx`, static int8 with fixed activation scales, so a
   sentence's probabilities do not depend on the sentences batched with it (dynamic
   quantisation scaled each batch's activations together, and labels changed with the batch
   size; docs/benchmarks.md). Every MatMul with a weight becomes MatMulIntegerToFloat and
   every Attention QAttention: per-channel int8 weights, uint8 activations with a scale and
   zero point calibrated on authored sentences (`CALIBRATION`; never the real-news dev set).
   Two things keep it close to fp32 (docs/benchmarks.md, "int8 you can trust"):
   - channels far wider than the median channel (a few, mostly at the [CLS] position, which
     would set a tensor's one scale and leave the other channels few int8 steps) are scaled
     down to the others' range before quantisation and their weight rows scaled up to match;
   - the widest (over `OUTLIER` x the median) are not quantised at all: they go through a
     small fp32 MatMul added to the int8 one (for the feed-forward units, the unit's own
     fp32 column, GELU and row); where no residual sum follows, that MatMul and its Add
     are one Gemm (`_outlier_gemms`).
   The embeddings and the pooler/classifier head stay fp32.
The folder also gets the tokenizer, config.json (the label map) and card.json, so it is a
complete model folder for `stance score --backend onnx --model <folder>`.
(optimum-onnx is not used: it pins an old transformers.)
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

from pipeline import paths
from pipeline.classifier import ONNX_FILES, StanceClassifier
from pipeline.io import read_jsonl
from pipeline.schema import with_context

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
COPIED = ("config.json", "card.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
# int8 calibration: a fixed sample of the authored training sentences (the real-news dev
# set is for evaluation only)
CALIBRATION = Path("seeds/authored_articles.jsonl")
CALIBRATION_SENTENCES = 512
# a channel wider than SMOOTH x the median channel is scaled down to that width; the widest,
# beyond OUTLIER x the median (at most MAX_OUTLIERS per tensor), stay fp32. Chosen on
# sentences outside the dev set (docs/benchmarks.md); scaling all channels to one width
# (SMOOTH 1) or splitting none made agreement with fp32 worse
SMOOTH, OUTLIER, MAX_OUTLIERS = 1.5, 4.0, 8
# encoder layers not quantised (0-based, negative from the last; empty: every layer is)
FP32_LAYERS: tuple[int, ...] = ()


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
    from onnxruntime.transformers.fusion_options import FusionOptions
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
    fused = _fused_attention(model, example)
    trimmed = _first_token_last_layer(model, example)
    names = [n for n in INPUTS if n in example]
    fp32 = out_dir / ONNX_FILES["onnx-fp32"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False  # see step 2
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        raw = Path(tmp) / "raw.onnx"
        with torch.inference_mode():
            torch.onnx.export(model, tuple(example[n] for n in names), str(raw), input_names=names,
                              output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                              opset_version=opset, dynamo=False)
        optimized = optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads,
                                   hidden_size=model.config.hidden_size, optimization_options=options)
    graph = optimized.model
    _residual_sums(graph)
    onnx.save(graph, str(fp32))
    for name in COPIED:
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, out_dir / name)
    ranges = _activation_ranges(graph, _calibration_batches(out_dir))
    int8 = _quantize(graph, ranges)
    _residual_sums(int8)
    _outlier_gemms(int8)
    onnx.save(int8, str(out_dir / ONNX_FILES["onnx"]))
    card = out_dir / "card.json"
    data = json.loads(card.read_text()) if card.exists() else {}
    data["onnx"] = {"opset": opset, "files": sorted(ONNX_FILES.values()),
                    "last_layer_first_token_only": trimmed, "attention": "MultiHeadAttention" if fused else "Attention",
                    "int8": {"activations": "static",
                             "calibration": f"{CALIBRATION} ({CALIBRATION_SENTENCES} sentences)"}}
    card.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.suffix in (".onnx", ".data")}


def _residual_sums(model) -> None:
    """Each LayerNormalization's input built by single-use Adds (bias + sublayer output +
    residual) becomes one Sum: one pass instead of two, and ORT's SkipLayerNorm fusion, whose
    CPU kernel is slower than Sum + LayerNormalization here (docs/benchmarks.md), matches Add
    only."""
    from onnx import helper

    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    uses: dict[str, int] = defaultdict(int)
    for n in nodes:
        for i in n.input:
            uses[i] += 1
    for output in model.graph.output:
        uses[output.name] += 1
    merged, replaced = set(), {}
    for norm in nodes:
        top = producer.get(norm.input[0]) if norm.op_type == "LayerNormalization" else None
        if top is None or top.op_type not in ("Add", "Sum"):
            continue
        terms, todo = [], list(top.input)
        while todo:
            name = todo.pop(0)
            inner = producer.get(name)
            if inner is not None and inner.op_type in ("Add", "Sum") and uses[name] == 1:
                merged.add(id(inner))
                todo = list(inner.input) + todo
            else:
                terms.append(name)
        replaced[id(top)] = helper.make_node("Sum", terms, list(top.output), name=top.name or top.output[0])
    del model.graph.node[:]
    model.graph.node.extend(replaced.get(id(n), n) for n in nodes if id(n) not in merged)


def _outlier_gemms(model) -> None:
    """Each fp32 outlier product that `_residual_sums` left as MatMul + Add (the query, key,
    value and first feed-forward layers, whose outputs feed no residual sum) becomes one Gemm
    that adds the int8 product as its C: the same sums, bit for bit, without writing the
    outliers' full-width product and reading it back (docs/benchmarks.md). Gemm is 2-D, so
    its inputs are flattened to (tokens, channels) and its output takes the int8 product's
    shape."""
    import numpy as np
    from onnx import helper, numpy_helper

    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    weights = {t.name: t for t in model.graph.initializer}
    added = []
    replaced: dict[int, list] = {}
    dropped: set[int] = set()
    for node in nodes:
        if node.op_type != "Add" or not node.name.endswith("/sum"):
            continue
        int8_out, fp32_out = node.input
        product = producer.get(fp32_out)
        if product is None or product.op_type != "MatMul":
            continue
        prefix = node.name[:-len("/sum")]
        rows, width = prefix + "/gemm_rows", prefix + "/gemm_width"
        k, n = weights[product.input[1]].dims
        added += [numpy_helper.from_array(np.array([-1, k]), rows), numpy_helper.from_array(np.array([-1, n]), width)]
        replaced[id(node)] = [
            helper.make_node("Reshape", [product.input[0], rows], [prefix + "/a2"], name=prefix + "/a2"),
            helper.make_node("Reshape", [int8_out, width], [prefix + "/c2"], name=prefix + "/c2"),
            helper.make_node("Gemm", [prefix + "/a2", product.input[1], prefix + "/c2"], [prefix + "/y2"],
                             name=prefix + "/gemm"),
            helper.make_node("Shape", [int8_out], [prefix + "/shape"], name=prefix + "/shape"),
            helper.make_node("Reshape", [prefix + "/y2", prefix + "/shape"], list(node.output), name=prefix + "/y")]
        dropped.add(id(product))
    out = []
    for node in nodes:
        if id(node) not in dropped:
            out.extend(replaced.get(id(node), [node]))
    del model.graph.node[:]
    model.graph.node.extend(out)
    model.graph.initializer.extend(added)


def _calibration_batches(onnx_dir: Path) -> list[dict]:
    """Model inputs for the calibration sentences, tokenised and batched (16, by length) as
    `StanceClassifier` does for the folder's model (with context, where the model reads it)."""
    records = with_context(list(read_jsonl(paths.in_project(CALIBRATION))))
    records = random.Random(0).sample(records, min(CALIBRATION_SENTENCES, len(records)))
    classifier = StanceClassifier.load(onnx_dir, backend="onnx-fp32", threads=1)
    batches = classifier.batches([r["text"] for r in records], 16, [tuple(r["context"]) for r in records])
    return [batch for _, batch in batches]


def _quantized_inputs(model) -> list[str]:
    weights = {t.name: t for t in model.graph.initializer}
    found: list[str] = []
    for node in model.graph.node:
        if _quantizable(node, weights) and node.input[0] not in found:
            found.append(node.input[0])
    return found


def _quantizable(node, weights) -> bool:
    """A MatMul by a 2-D weight, or a fused Attention without past state or extra bias."""
    return (node.op_type == "MatMul" and node.input[1] in weights and len(weights[node.input[1]].dims) == 2) or \
        (node.op_type == "Attention" and node.domain == "com.microsoft" and len(node.input) <= 4)


def _activation_ranges(model, batches) -> dict:
    """Per-channel (min, max) of every tensor that `_quantize` quantises, over the real
    (unpadded) tokens of `batches`, from the fp32 model on a fixed two threads: ONNX Runtime
    splits a product's outputs over its threads, not its sums, so the ranges (and the int8
    file) are the same bytes as on one thread, in two thirds of the time (docs/benchmarks.md)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = _quantized_inputs(probe)
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = [i.name for i in session.get_inputs()]
    ranges: dict = {}
    for batch in batches:
        real = batch["attention_mask"].astype(bool)
        for name, values in zip(names, session.run(names, {k: batch[k] for k in feeds})):
            # (batch, tokens, channels), or (batch, 1, channels) in the [CLS]-only layer
            rows = values[real] if values.shape[:2] == real.shape else values.reshape(-1, values.shape[-1])
            low, high = rows.min(axis=0), rows.max(axis=0)
            if name in ranges:
                low, high = np.minimum(ranges[name][0], low), np.maximum(ranges[name][1], high)
            ranges[name] = (low, high)
    return ranges


def _quantize(model, ranges):
    """The int8 model (module docstring, step 3) of the fp32 `model`, given the calibrated
    per-channel ranges of the tensors it quantises."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    int8 = onnx.ModelProto()
    int8.CopyFrom(model)
    graph = int8.graph
    weights = {t.name: t for t in graph.initializer}
    weight = lambda name: numpy_helper.to_array(weights[name]).astype(np.float32)  # noqa: E731
    producer = {o: n for n in graph.node for o in n.output}
    consumers = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)
    added: list = []

    def constant(name: str, value) -> str:
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def bias_add(node):
        """The Add of a 1-D bias that is the only reader of `node`'s output, if there is one."""
        readers = consumers[node.output[0]]
        if len(readers) != 1 or readers[0].op_type != "Add":
            return None, None
        other = [i for i in readers[0].input if i != node.output[0]]
        if len(other) == 1 and other[0] in weights and len(weights[other[0]].dims) == 1:
            return readers[0], other[0]
        return None, None

    layer, layers = _encoder_layers(graph.node)
    fp32_layers = {i % layers for i in FP32_LAYERS} if layers else set()
    out, plans, skipped = [], {}, set()
    for node in graph.node:
        if id(node) in skipped:
            continue
        if not _quantizable(node, weights) or layer[id(node)] in fp32_layers:
            out.append(node)
            continue
        x = node.input[0]
        if x not in plans:
            plans[x] = _plan_input(x, ranges[x], any(c.op_type == "Attention" for c in consumers[x]),
                                   producer, weights, len(plans), constant, out)
        plan = plans[x]
        w = weight(node.input[1]) * plan["smooth"][:, None]  # the rows take what the channels gave up
        w[plan["outliers"]] = 0
        w_scale = np.abs(w).max(axis=0) / 127
        w_scale[w_scale == 0] = 1
        w_int8 = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        prefix = f"{plan['prefix']}/{node.name or node.output[0]}"
        args = [plan["q"], constant(prefix + "/w", w_int8), plan["scale"], constant(prefix + "/w_scale", w_scale)]
        if node.op_type == "Attention":
            inputs = [*args[:2], node.input[2], args[2], args[3], node.input[3] if len(node.input) > 3 else "",
                      plan["zero_point"], constant(prefix + "/w_zero_point", np.zeros(w.shape[1], np.int8))]
            out.append(helper.make_node("QAttention", inputs, list(node.output), name=node.name + "_int8",
                                        domain="com.microsoft", **{a.name: helper.get_attribute_value(a)
                                                                   for a in node.attribute}))
            continue
        result, extra = node.output[0], []
        add, bias = bias_add(node)
        if add is not None:  # the bias goes into the int8 MatMul's output step
            skipped.add(id(add))
            result, extra = add.output[0], ["", bias]
        if not len(plan["outliers"]):
            out.append(helper.make_node("MatMulIntegerToFloat", [*args, plan["zero_point"], *extra], [result],
                                        name=prefix, domain="com.microsoft"))
            continue
        out.append(helper.make_node("MatMulIntegerToFloat", [*args, plan["zero_point"], *extra], [prefix + "/int8"],
                                    name=prefix, domain="com.microsoft"))
        rows = constant(prefix + "/w_fp32", weight(node.input[1])[plan["outliers"]])
        out.append(helper.make_node("MatMul", [plan["fp32"], rows], [prefix + "/fp32"], name=prefix + "/fp32"))
        out.append(helper.make_node("Add", [prefix + "/int8", prefix + "/fp32"], [result], name=prefix + "/sum"))
    del graph.node[:]
    graph.node.extend(out)
    used = {i for n in out for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if not any(o.domain == "com.microsoft" for o in int8.opset_import):
        int8.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return int8


def _encoder_layers(nodes) -> tuple[dict[int, int], int]:
    """The encoder layer (0-based) of each node, by id, and the number of layers, from the
    normalisations before it in graph order (topological): the embeddings' one, then two per
    layer; -1 before the first, the number of layers after the last (the head)."""
    norms, layer = 0, {}
    for node in nodes:
        layer[id(node)] = (norms - 1) // 2 if norms else -1
        norms += node.op_type in ("LayerNormalization", "SkipLayerNormalization", "EmbedLayerNormalization")
    return layer, (norms - 1) // 2


def _plan_input(x, ranges, feeds_attention, producer: dict, weights, index, constant, out) -> dict:
    """How tensor `x` is quantised (nodes appended to `out`): its fixed scale and zero point,
    per-channel smoothing, and which channels stay fp32 (none where QAttention reads it,
    which takes the int8 input alone)."""
    import numpy as np
    from onnx import helper, numpy_helper

    low, high = (r.astype(np.float64) for r in ranges)
    width = np.maximum(np.abs(low), np.abs(high))
    median = max(float(np.median(width)), 1e-6)
    outliers = np.array([], dtype=np.int64)
    if not feeds_attention:
        widest = np.argsort(-width, kind="stable")[:MAX_OUTLIERS]
        outliers = np.sort(widest[width[widest] > OUTLIER * median])
    rest = np.ones(len(width), bool)
    rest[outliers] = False
    smooth = np.where(rest, np.maximum(1.0, width / (SMOOTH * median)), 1.0)
    lo = min(float((low / smooth)[rest].min(initial=0.0)), 0.0)
    hi = max(float((high / smooth)[rest].max(initial=0.0)), 0.0)
    scale = max(hi - lo, 1e-6) / 255
    prefix = f"int8/{index}"
    plan = {"prefix": prefix, "smooth": smooth.astype(np.float32), "outliers": outliers,
            "scale": constant(prefix + "/scale", np.float32(scale)),
            "zero_point": constant(prefix + "/zero_point", np.uint8(np.clip(round(-lo / scale), 0, 255)))}
    source = x
    if (smooth > 1).any():
        source = prefix + "/smoothed"
        out.append(helper.make_node("Mul", [x, constant(prefix + "/smooth", (1 / smooth).astype(np.float32))],
                                    [source], name=source))
    plan["q"] = prefix + "/uint8"
    out.append(helper.make_node("QuantizeLinear", [source, plan["scale"], plan["zero_point"]], [plan["q"]],
                                name=plan["q"]))
    if not len(outliers):
        return plan
    plan["fp32"] = prefix + "/fp32_in"
    gelu = producer.get(x)
    dense = producer.get(gelu.input[0]) if gelu is not None and gelu.op_type == "BiasGelu" else None
    # feed-forward units: their own fp32 column of the first dense layer and GELU, from its input
    if dense is not None and dense.op_type == "MatMul" and dense.input[1] in weights and gelu.input[1] in weights:
        columns = numpy_helper.to_array(weights[dense.input[1]])[:, outliers]
        bias = numpy_helper.to_array(weights[gelu.input[1]])[outliers]
        out.append(helper.make_node("MatMul", [dense.input[0], constant(prefix + "/ffn_w", columns)],
                                    [prefix + "/ffn_z"], name=prefix + "/ffn"))
        out.append(helper.make_node("BiasGelu", [prefix + "/ffn_z", constant(prefix + "/ffn_b", bias)],
                                    [plan["fp32"]], name=prefix + "/gelu", domain="com.microsoft"))
    else:
        out.append(helper.make_node("Gather", [x, constant(prefix + "/channels", outliers)], [plan["fp32"]],
                                    axis=-1, name=plan["fp32"]))
    return plan


def _first_token_last_layer(model, example) -> bool:
    """Make the last encoder layer of a BERT or MPNet classifier compute the first ([CLS],
    <s>) position only.

    Their classification heads (BERT's pooler, MPNet's ClassificationHead) read only that
    position of the last layer, so its query, attention output and feed-forward for every
    other token are wasted work: 10 of the 12 weight multiplications per token in that layer.
    Keys and values still come from every token (and MPNet's relative position bias keeps
    the first query's row), so the logits are the same (checked here on `example`;
    docs/benchmarks.md). Returns whether the model was changed; other architectures export
    as they are.
    """
    import torch

    kind = model.config.model_type
    if kind == "bert":
        from transformers.models.bert.modeling_bert import BertLayer as Layer
        base = getattr(model, "bert", None)
        if base is None or base.pooler is None:
            return False
    elif kind == "mpnet":
        from transformers.models.mpnet.modeling_mpnet import MPNetLayer as Layer
        base = getattr(model, "mpnet", None)
    else:
        return False
    if base is None or not isinstance(base.encoder.layer[-1], Layer):
        return False

    class FirstTokenLayer(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
            first = hidden_states[:, :1]
            if attention_mask is not None:  # (batch, 1, query, key): keep the first query's row
                attention_mask = attention_mask[:, :, :1, :]
            attended = (self._bert if kind == "bert" else self._mpnet)(hidden_states, first, attention_mask,
                                                                       *args, **kwargs)
            out = self.layer.output(self.layer.intermediate(attended), attended)
            return out if kind == "bert" else (out,)  # as each encoder's loop reads its layers

        def _bert(self, hidden_states, first, attention_mask, *args, **kwargs):
            from transformers.models.bert.modeling_bert import eager_attention_forward

            attention = self.layer.attention
            heads = attention.self.num_attention_heads, attention.self.attention_head_size
            split = lambda x: x.view(x.shape[0], -1, *heads).transpose(1, 2)  # noqa: E731
            context, _ = eager_attention_forward(
                attention.self, split(attention.self.query(first)), split(attention.self.key(hidden_states)),
                split(attention.self.value(hidden_states)), attention_mask, scaling=attention.self.scaling)
            return attention.output(context.reshape(first.shape), first)

        def _mpnet(self, hidden_states, first, attention_mask, position_bias=None, *args, **kwargs):
            attention = self.layer.attention
            attn = attention.attn
            if position_bias is not None:  # (batch, heads, query, key)
                position_bias = position_bias[:, :, :1, :]
            # `_fused_attention`'s one node where it ran, else the same arithmetic in torch
            fused = getattr(attn, "fused", None) or (
                lambda q, k, v, bias: _attention(q, k, v, bias, attn.num_attention_heads))
            context = fused(attn.q(first), attn.k(hidden_states), attn.v(hidden_states),
                            _sum_of(position_bias, attention_mask))
            return attention.LayerNorm(attn.o(context) + first)

    with torch.inference_mode():
        before = model(**example).logits
        base.encoder.layer[-1] = FirstTokenLayer(base.encoder.layer[-1])
        after = model(**example).logits
    if not torch.allclose(before, after, atol=1e-4):
        raise RuntimeError(f"first-token export changed the logits by {(before - after).abs().max():.2e}")
    return True


def _attention(q, k, v, bias, heads: int):
    """Scaled dot-product attention over `heads` heads of the (batch, tokens, hidden)
    projections, `bias` added to the scores: what MPNet's self-attention computes."""
    import math

    split = lambda x: x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // heads)
    if bias is not None:
        scores = scores + bias
    return (scores.softmax(dim=-1) @ split(v)).transpose(1, 2).reshape(q.shape)


def _sum_of(position_bias, attention_mask):
    """What MPNet adds to the attention scores: its relative position bias and the padding
    mask (either may be absent)."""
    if position_bias is None or attention_mask is None:
        return attention_mask if position_bias is None else position_bias
    return position_bias + attention_mask


def _fused_attention(model, example) -> bool:
    """Make each MPNet self-attention export as one `com.microsoft` MultiHeadAttention node
    that takes the query, key and value projections and, as its attention bias, the relative
    position bias plus the padding mask.

    ORT's optimizer fuses BERT's attention but not MPNet's (the position bias is an extra
    Add it does not match), which left each layer as some fifteen small nodes (transposes,
    two products, a division, two adds, a softmax) that took about a seventh of the int8
    model's time (docs/benchmarks.md). The projections stay MatMuls, so `_quantize` treats
    them as before. In torch the node computes what MPNet's own attention does (checked
    here on `example`). Returns whether the model was changed; other architectures export
    as they are.
    """
    import torch

    if model.config.model_type != "mpnet" or getattr(model, "mpnet", None) is None:
        return False
    from transformers.models.mpnet.modeling_mpnet import MPNetSelfAttention

    heads = model.config.num_attention_heads

    class MultiHeadAttention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, bias):
            return _attention(q, k, v, bias, heads)

        @staticmethod
        def symbolic(g, q, k, v, bias):
            absent = g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())
            context = g.op("com.microsoft::MultiHeadAttention", q, k, v, absent, absent, bias, num_heads_i=heads)
            return context.setType(q.type())  # the query's shape and type: no shape-inference warning

    def forward(self, hidden_states, attention_mask=None, position_bias=None, output_attentions=False, **kwargs):
        context = MultiHeadAttention.apply(self.q(hidden_states), self.k(hidden_states), self.v(hidden_states),
                                           _sum_of(position_bias, attention_mask))
        return (self.o(context),)

    with torch.inference_mode():
        before = model(**example).logits
        for module in model.modules():
            if isinstance(module, MPNetSelfAttention):
                module.fused = MultiHeadAttention.apply
                module.forward = forward.__get__(module)
        after = model(**example).logits
    if not torch.allclose(before, after, atol=1e-4):
        raise RuntimeError(f"fused attention changed the logits by {(before - after).abs().max():.2e}")
    return True
