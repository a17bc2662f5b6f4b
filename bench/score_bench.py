"""Benchmark of batch scoring on this machine: `transformers.pipeline` (default settings)
vs `stance score` with the torch and the ONNX int8 backends, on the same model and the
same sentences; label agreement between them; peak RSS while scoring a large corpus.

    python bench/score_bench.py                       # 20,000 sentences + 200,000 for RSS
    python bench/score_bench.py --sentences 2000 --rss-sentences 0   # a quick check
    python bench/score_bench.py --sentences 2000 --rss-sentences 0 --repeats 3

With --repeats N the pipeline and the int8 command each run N times, in alternating order
(pipeline first in odd rounds, int8 first in even ones), and the ratio is the median of the
rounds' own ratios: on a host whose speed drifts between runs (docs/benchmarks.md), a
ratio taken within one round, next to each other in time, is the one to read. torch runs
once (its ratio is not a target here).

The sentences are real-length: the 87 real seed sentences, copies of them with the
parties of other disputes swapped in (same structure, other names), and pairs of authored
sentences joined as one (real news sentences are about twice as long as the authored
ones). Written to bench/data/ (git-ignored); results to bench/results/score.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.augment import augment, name_pools, with_dispute  # noqa: E402
from pipeline.authored import load_authored  # noqa: E402
from pipeline.io import file_md5, read_jsonl  # noqa: E402

DATA, RESULTS = ROOT / "bench" / "data", ROOT / "bench" / "results"
ARTICLE_SIZE = 25  # sentences per article in the generated files


def real_length_sentences(n: int, seed: int = 0) -> tuple[list[str], set[str]]:
    """n sentences; also the set of real (seed) sentence texts among them."""
    gold = [r for r in read_jsonl(ROOT / "data" / "labeled.jsonl") if r["label_source"] == "gold"]
    authored = load_authored([ROOT / "seeds" / "authored_corpus.jsonl"])
    articles = with_dispute(gold)
    swapped = [r["text"] for r in augment(articles, 20, name_pools(articles + authored), seed)]
    rng = random.Random(seed)
    out = [r["text"] for r in gold]
    while len(out) < n:  # half swapped real sentences, half joined authored pairs (mostly unique)
        if rng.random() < 0.5:
            out.append(rng.choice(swapped))
        else:
            a, b = rng.sample(authored, 2)
            out.append(f"{a['text'].rstrip('.')}, while {b['text'][0].lower()}{b['text'][1:]}")
    return out[:n], {r["text"] for r in gold}


def write_inputs(texts: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"id": f"s{i}", "article_id": f"a{i // ARTICLE_SIZE}", "text": text}) + "\n")


def timed(cmd: list[str]) -> dict:
    """Wall time and peak RSS of a command, run in a fresh process."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "rc = subprocess.run(sys.argv[1:]).returncode; "
               "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    rc, seconds, rss_kb = out.stdout.split()
    if rc != "0":
        raise RuntimeError(f"{cmd} exited {rc}")
    return {"seconds": round(float(seconds), 1), "peak_rss_mb": round(int(rss_kb) / 1024)}


def pipeline_run(model: Path, texts: list[str], out: Path) -> None:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model))  # default settings
    started = time.perf_counter()
    labels = [r["label"] for r in classify(texts)]
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"labels": labels, "model_seconds": seconds}))


def stance_score(inputs: Path, out: Path, backend: str, model: Path) -> dict:
    out.unlink(missing_ok=True)
    out.with_name(out.stem + ".articles.jsonl").unlink(missing_ok=True)
    return timed(["stance", "score", str(inputs), "-o", str(out), "--sentences", "--backend", backend,
                  "--model", str(model), "--quiet", "--overwrite"])


def _summary(runs: list[dict]) -> dict:
    """One system's row: its median wall time, every run's, and the highest peak RSS."""
    row = {"seconds": round(statistics.median(r["seconds"] for r in runs), 1),
           "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    if len(runs) > 1:
        row["runs_seconds"] = [r["seconds"] for r in runs]
    if "model_seconds" in runs[-1]:
        row["model_seconds"] = runs[-1]["model_seconds"]
    return row


def labels_of(path: Path) -> list[str]:
    return [r["label"] for r in read_jsonl(path)]


def large_run(n: int, onnx_model: Path) -> dict:
    """Peak RSS of `stance score` (onnx int8) over n sentences, beside the same over n/10."""
    out = {}
    for size in (n // 10, n):
        texts, _ = real_length_sentences(size, seed=1)
        inputs = DATA / f"rss_sentences_{size}.jsonl"  # not the main run's file, which --reuse-pipeline keys on
        write_inputs(texts, inputs)
        run = stance_score(inputs, DATA / "out_big.jsonl", "onnx", onnx_model)
        out[str(size)] = {"sentences": size, "backend": "onnx", **run, "sentences_per_s": round(size / run["seconds"], 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--rss-sentences", type=int, default=200_000)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "stance")
    parser.add_argument("--onnx-model", type=Path, default=ROOT / "models" / "stance-onnx")
    parser.add_argument("--reuse-pipeline", action="store_true",
                        help="reuse the last transformers.pipeline run if its sentences and model weights are the same")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of the pipeline and int8 runs, in alternating order (the ratio: their median)")
    parser.add_argument("--pipeline-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_child:  # run in a fresh process, so that its RSS is its own
        texts = [r["text"] for r in read_jsonl(Path(args.pipeline_child[0]))]
        pipeline_run(args.model, texts, Path(args.pipeline_child[1]))
        return

    if args.sentences == 0:  # memory only: python bench/score_bench.py --sentences 0
        RESULTS.mkdir(parents=True, exist_ok=True)
        result = large_run(args.rss_sentences, args.onnx_model)
        (RESULTS / "score_rss.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    texts, real = real_length_sentences(args.sentences)
    inputs = DATA / f"sentences_{len(texts)}.jsonl"
    write_inputs(texts, inputs)
    words = sorted(len(t.split()) for t in texts)
    results = {"machine": f"{os.cpu_count()} cores (CPU), {sys.platform}", "sentences": len(texts),
               "median_words": words[len(words) // 2], "real_seed_sentences": len(real), "systems": {}}

    pipe_out = DATA / "pipeline_labels.json"
    # the slowest system: its run is reused only for the same sentences and the same weights
    key = {"inputs_md5": file_md5(inputs), "model_md5": file_md5(args.model / "model.safetensors")}
    pipe = json.loads(pipe_out.read_text()) if pipe_out.exists() else {}

    def run_pipeline() -> dict:
        nonlocal pipe
        if not (args.repeats == 1 and args.reuse_pipeline and pipe.get("key") == key):
            run = timed([sys.executable, __file__, "--model", str(args.model), "--pipeline-child", str(inputs),
                         str(pipe_out)])
            pipe = {**json.loads(pipe_out.read_text()), "run": run, "key": key}
            pipe_out.write_text(json.dumps(pipe))
        return {**pipe["run"], "model_seconds": round(pipe["model_seconds"], 1)}

    outputs = {name: DATA / f"out_{backend}.jsonl" for name, backend in (("stance score (torch)", "torch"),
                                                                         ("stance score (onnx int8)", "onnx"))}
    runs: dict[str, list[dict]] = {"transformers.pipeline": [], "stance score (onnx int8)": []}
    int8 = lambda: stance_score(inputs, outputs["stance score (onnx int8)"], "onnx", args.onnx_model)  # noqa: E731
    for round_ in range(args.repeats):
        order = [("transformers.pipeline", run_pipeline), ("stance score (onnx int8)", int8)]
        for name, run in order if round_ % 2 == 0 else order[::-1]:
            runs[name].append(run())
            print(f"round {round_ + 1}: {name} {runs[name][-1]['seconds']} s", file=sys.stderr)
        if round_ == 0:
            results["systems"]["stance score (torch)"] = stance_score(
                inputs, outputs["stance score (torch)"], "torch", args.model)
    results["systems"] = {"transformers.pipeline": _summary(runs["transformers.pipeline"]),
                          **results["systems"], "stance score (onnx int8)": _summary(runs["stance score (onnx int8)"])}
    base = results["systems"]["transformers.pipeline"]["seconds"]
    for name, row in results["systems"].items():
        row["sentences_per_s"] = round(len(texts) / row["seconds"], 1)
        row["speedup_vs_pipeline"] = round(base / row["seconds"], 2)
    if args.repeats > 1:  # each round's own ratio: the two runs next to each other in time
        ratios = sorted(p["seconds"] / q["seconds"] for p, q in zip(runs["transformers.pipeline"],
                                                                     runs["stance score (onnx int8)"]))
        results["int8_vs_pipeline_by_round"] = {
            "rounds": args.repeats, "min": round(ratios[0], 2), "median": round(statistics.median(ratios), 2),
            "max": round(ratios[-1], 2)}

    labels = {"transformers.pipeline": pipe["labels"], **{n: labels_of(p) for n, p in outputs.items()}}
    # the reference for the GPU benchmark's agreement check (gpu_bench.py --cpu-labels)
    (DATA / "labels_torch_cpu.json").write_text(json.dumps(labels["stance score (torch)"]))
    is_real = [t in real for t in texts]
    agreement = {}
    for a, b in (("stance score (torch)", "stance score (onnx int8)"), ("transformers.pipeline", "stance score (torch)")):
        same = [x == y for x, y in zip(labels[a], labels[b])]
        agreement[f"{a} vs {b}"] = {"all": round(sum(same) / len(same), 4),
                                    "real_seed_sentences": round(sum(s for s, r in zip(same, is_real) if r) / sum(is_real), 4)}
    results["agreement"] = agreement

    if args.rss_sentences:
        results["large_run"] = large_run(args.rss_sentences, args.onnx_model)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "score.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
