"""Is the int8 export trustworthy? Label agreement of `--backend onnx` (int8) with the fp32
export on the real sentences, whether a sentence's probabilities depend on its batch, and
in-process speed against another export (the one before, say) and fp32.

    python bench/int8_bench.py                                   # models/stance-onnx
    python bench/int8_bench.py --model /tmp/new-export --baseline models/stance-onnx
    python bench/int8_bench.py --baseline-rev b80b205 --processes   # baseline: models/stance
                                           # exported with that commit's pipeline/export.py

- agreement: int8 labels vs the same folder's fp32 (`onnx-fp32`) labels, both at the
  default batch size (32), on the seed sentences (seeds/gold_labels.jsonl) and on the
  real-news dev set (`--devset`, default ../shared/devset/devset.jsonl from the repo; only
  read, skipped with a message when absent);
- batch dependence: int8 probabilities of those sentences at batch sizes 1 and 7 against
  32 (each a different batch composition: batches are formed after sorting by length);
  largest probability shift and labels changed;
- speed: sentences/s of `predict_proba` over `--sentences` real-length sentences
  (bench/score_bench.py's generator: seed sentences, name-swapped copies, joined authored
  pairs), the systems alternated for `--rounds` rounds after a warm-up; the median.
  `--processes` times each run in a fresh process, one model loaded (the figure to trust:
  here, alternating in one process put the new int8 6-15% ahead, fresh processes and
  end-to-end runs level); it adds `baseline_fp32`.
  The machine's load average is recorded before and after: on a shared machine only
  ratios within one run mean anything.
- `--profile N`: ONNX Runtime's kernel time per operator type over N of those sentences,
  one thread, for each model (where the time goes, less sensitive to scheduling).
Results: printed, and written to bench/results/int8.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline.classifier import ONNX_FILES, StanceClassifier  # noqa: E402
from pipeline.io import read_jsonl  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    import onnxruntime

    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "avx2": " avx2" in flags,
            "avx512": " avx512f" in flags, "vnni": "vnni" in flags, "onnxruntime": onnxruntime.__version__}


def export_at(rev: str, out: Path) -> Path:
    """models/stance exported with pipeline/export.py as it was at git revision `rev`."""
    import importlib.util

    source = subprocess.run(["git", "show", f"{rev}:pipeline/export.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    module_path = out.parent / f"export_{rev}.py"
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"export_{rev}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._export(ROOT / "models" / "stance", out, 17)
    return out


def agreement(int8: np.ndarray, fp32: np.ndarray) -> dict:
    same = int8.argmax(1) == fp32.argmax(1)
    return {"sentences": len(same), "agree": round(float(same.mean()), 5), "disagree": int((~same).sum()),
            "max_prob_diff": round(float(np.abs(int8 - fp32).max()), 4),
            "mean_prob_diff": round(float(np.abs(int8 - fp32).max(1).mean()), 5)}


def quality(folder: Path, reference: StanceClassifier, sets: dict[str, list[str]],
            batch_sets: tuple[str, ...] | None = None) -> dict:
    """Agreement with `reference` (fp32) on each set; batch dependence on `batch_sets` (all)."""
    int8 = StanceClassifier.load(folder, backend="onnx")
    out: dict = {}
    for name, texts in sets.items():
        out[f"agreement_{name}"] = agreement(int8.predict_proba(texts, 32), reference.predict_proba(texts, 32))
    texts = [t for name, part in sets.items() if batch_sets is None or name in batch_sets for t in part]
    probs = {b: int8.predict_proba(texts, b) for b in (32, 7, 1)}
    out["batch_dependence"] = {
        f"batch_{b}_vs_32": {"max_prob_shift": float(np.abs(probs[b] - probs[32]).max()),
                             "labels_changed": int((probs[b].argmax(1) != probs[32].argmax(1)).sum())}
        for b in (1, 7)}
    out["batch_dependence"]["sentences"] = len(texts)
    return out


def speed(systems: dict[str, StanceClassifier], texts: list[str], rounds: int) -> dict:
    for clf in systems.values():
        clf.predict_proba(texts[:256])  # warm-up: sessions, arenas
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for r in range(rounds):
        for name, clf in systems.items():
            started = time.perf_counter()
            clf.predict_proba(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.0f}/s" for n, v in rates.items()), flush=True)
    return {name: {"median": round(statistics.median(v), 1), "runs": [round(x, 1) for x in v]}
            for name, v in rates.items()}


CHILD = """import json, sys, time
sys.path.insert(0, {root!r})
from pipeline.classifier import StanceClassifier
texts = json.load(open({texts!r}))
clf = StanceClassifier.load({folder!r}, backend={backend!r})
clf.predict_proba(texts[:256])
started = time.perf_counter()
clf.predict_proba(texts)
print(len(texts) / (time.perf_counter() - started))
"""


def speed_in_processes(systems: dict[str, tuple[Path, str]], texts: list[str], rounds: int) -> dict:
    """As `speed`, each timing in a fresh process with one model loaded (see the docstring)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle)
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for r in range(rounds):
        for name, (folder, backend) in systems.items():
            code = CHILD.format(root=str(ROOT), texts=handle.name, folder=str(folder), backend=backend)
            rates[name].append(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                    check=True).stdout.split()[-1]))
        print(f"round {r + 1} (fresh processes): " + ", ".join(f"{n} {v[-1]:.0f}/s" for n, v in rates.items()),
              flush=True)
    os.unlink(handle.name)
    return {name: {"median": round(statistics.median(v), 1), "runs": [round(x, 1) for x in v]}
            for name, v in rates.items()}


def profile(folder: Path, backend: str, texts: list[str]) -> dict:
    """ONNX Runtime's own kernel time per operator type (seconds), one thread, batches of 32."""
    import collections

    import onnxruntime as ort

    clf = StanceClassifier.load(folder, backend=backend, threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "int8_bench_profile")
    clf.runner.session = ort.InferenceSession(str(folder / ONNX_FILES[backend]), options,
                                              providers=["CPUExecutionProvider"])
    clf.predict_proba(texts)
    trace = Path(clf.runner.session.end_profiling())
    totals: collections.Counter = collections.Counter()
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e6
    trace.unlink()
    return {"total": round(sum(totals.values()), 2), **{k: round(v, 3) for k, v in totals.most_common()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "stance-onnx", help="the export to check")
    parser.add_argument("--baseline", type=Path, help="another export to compare with (its int8)")
    parser.add_argument("--baseline-rev", help="export models/stance with this git revision's export.py as baseline")
    parser.add_argument("--devset", type=Path, default=ROOT.parent / "shared" / "devset" / "devset.jsonl")
    parser.add_argument("--sentences", type=int, default=3000, help="sentences for the speed runs (0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", action="store_true", help="time each run in a fresh process")
    parser.add_argument("--profile", type=int, default=0, help="ORT kernel time per operator over N sentences")
    parser.add_argument("--out", type=Path, default=RESULTS / "int8.json")
    args = parser.parse_args()

    sets = {"seeds": [r["text"] for r in read_jsonl(ROOT / "seeds" / "gold_labels.jsonl")]}
    if args.devset.exists():
        sets["devset"] = [r["text"] for r in read_jsonl(args.devset)]
    else:
        print(f"{args.devset}: not found, the dev-set agreement is skipped", file=sys.stderr)
    result: dict = {"machine": machine(), "load_before": os.getloadavg(), "model": str(args.model)}
    tmp = tempfile.TemporaryDirectory()
    baseline = args.baseline
    if args.baseline_rev:
        baseline = export_at(args.baseline_rev, Path(tmp.name) / "baseline")
        result["baseline_rev"] = args.baseline_rev
    reference = StanceClassifier.load(args.model, backend="onnx-fp32")
    folders = {"int8": args.model, **({"baseline_int8": baseline} if baseline else {})}
    for name, folder in folders.items():
        result[name] = {"folder": str(folder), **quality(folder, reference, sets)}
        print(name, json.dumps({k: v for k, v in result[name].items() if k != "folder"}), flush=True)
    if args.sentences:
        from score_bench import real_length_sentences

        texts, _ = real_length_sentences(args.sentences)
        if args.processes:
            chosen = {**{name: (folder, "onnx") for name, folder in folders.items()},
                      "fp32": (args.model, "onnx-fp32"),
                      **({"baseline_fp32": (baseline, "onnx-fp32")} if baseline else {})}
            result["speed_sentences_per_s"] = speed_in_processes(chosen, texts, args.rounds)
        else:
            systems = {name: StanceClassifier.load(folder, backend="onnx") for name, folder in folders.items()}
            systems["fp32"] = reference
            result["speed_sentences_per_s"] = speed(systems, texts, args.rounds)
        result["speed_timing"] = "fresh process per run" if args.processes else "one process, systems alternated"
        result["speed_sentences"] = len(texts)
        medians = {n: v["median"] for n, v in result["speed_sentences_per_s"].items()}
        result["speed_ratio"] = {n: round(v / medians["int8"], 3) for n, v in medians.items()}
    if args.profile:
        from score_bench import real_length_sentences

        texts, _ = real_length_sentences(args.profile)
        chosen = {**{name: (folder, "onnx") for name, folder in folders.items()}, "fp32": (args.model, "onnx-fp32"),
                  **({"baseline_fp32": (baseline, "onnx-fp32")} if baseline else {})}
        result["profile_seconds"] = {name: profile(Path(folder), backend, texts)
                                     for name, (folder, backend) in chosen.items()}
        for name, ops in result["profile_seconds"].items():
            print("profile", name, json.dumps(ops), flush=True)
    result["load_after"] = os.getloadavg()
    tmp.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("machine", "load_before", "load_after")
                      + (("speed_sentences_per_s", "speed_ratio") if args.sentences else ())}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
