"""Scoring speed on a GPU: `stance score` end to end beside the model-only rate.

    python bench/gpu_bench.py --sentences bench/data/sentences_20000.jsonl --copies 10 \
        --cpu-labels bench/data/labels_torch_cpu.json --out /tmp/gpu_bench

(both inputs are written by score_bench.py; on a machine without the repo's data, carry
them along.)
Three rates, on the same sentences (the 20,000 real-length ones of score_bench.py,
repeated `--copies` times under new ids):
    end to end, articles   `stance score` on article records (the sentences joined 25 to
                           an article): reading, segmentation, tokenisation, model,
                           writing; wall time of a fresh process, start-up included
    end to end, sentences  the same with `--sentences` (no segmentation)
    model only             forward passes of the classifier on length-sorted batches that
                           are already tokenised and on the device (bf16 autocast, as
                           `stance score` runs it), synchronised, after a warm-up
the article runs with each `--workers` count (0: segmentation and tokenisation in the
scoring process, on one copy, as it is slow), the segmentation rate alone, and label agreement with the CPU
(torch, fp32) labels of the same sentences when `--cpu-labels` names them.
Results: OUT/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.io import read_jsonl  # noqa: E402

ARTICLE_SIZE = 25


def write_inputs(texts: list[str], copies: int, out: Path) -> tuple[Path, Path]:
    """A sentence file and an article file holding the same sentences `copies` times."""
    out.mkdir(parents=True, exist_ok=True)
    sentences, articles = out / "sentences.jsonl", out / "articles.jsonl"
    with open(sentences, "w", encoding="utf-8") as s_out, open(articles, "w", encoding="utf-8") as a_out:
        n = 0
        for copy in range(copies):
            for start in range(0, len(texts), ARTICLE_SIZE):
                chunk = texts[start:start + ARTICLE_SIZE]
                aid = f"c{copy}a{start // ARTICLE_SIZE}"
                for text in chunk:
                    s_out.write(json.dumps({"id": f"s{n}", "article_id": aid, "text": text}) + "\n")
                    n += 1
                a_out.write(json.dumps({"id": aid, "text": " ".join(chunk)}) + "\n")
    return sentences, articles


def run_cli(args: list[str]) -> dict:
    """`stance score` in a fresh process: wall time, and the rate it reports itself."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "score", *args, "--overwrite"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"stance score {args} exited {done.returncode}: {done.stderr[-2000:]}")
    line = done.stderr.strip().splitlines()[-1]
    found = re.search(r"([\d,]+) sentences.*?([\d.]+) s \(", line)
    sentences, in_process = int(found.group(1).replace(",", "")), float(found.group(2))
    return {"sentences": sentences, "wall_s": round(wall, 2), "sentences_per_s": round(sentences / wall, 1),
            "in_process_s": in_process, "in_process_sentences_per_s": round(sentences / in_process, 1),
            "startup_s": round(wall - in_process, 2), "line": line}


def model_only(model_dir: Path, texts: list[str], batch_size: int, device: str) -> tuple[dict, object]:
    import torch

    from pipeline.classifier import StanceClassifier

    classifier = StanceClassifier.load(model_dir, device=device)
    runner = classifier.runner
    started = time.perf_counter()  # the batches `stance score` runs, moved to the device
    batches = [{name: torch.from_numpy(batch[name]).to(runner.device) for name in runner.inputs}
               for _, batch in classifier.batches(texts, batch_size)]
    tokenise_s = time.perf_counter() - started

    def forward_all(dtype: str) -> float:
        sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)
        with torch.inference_mode(), torch.autocast(runner.device.type, dtype=torch.bfloat16,
                                                    enabled=dtype == "bf16"):
            for batch in batches[-3:]:  # warm-up on the longest batches
                runner.model(**batch)
            sync()
            t = time.perf_counter()
            for batch in batches:
                runner.model(**batch)
            sync()
            return time.perf_counter() - t

    out = {"batch_size": batch_size, "tokenise_s": round(tokenise_s, 2),
           "tokenise_sentences_per_s": round(len(texts) / tokenise_s, 1)}
    for dtype in ("bf16", "fp32"):
        seconds = min(forward_all(dtype) for _ in range(2))
        out[dtype] = {"seconds": round(seconds, 3), "sentences_per_s": round(len(texts) / seconds, 1)}
    started = time.perf_counter()
    probs = classifier.predict_proba(texts, batch_size)
    seconds = time.perf_counter() - started
    out["predict_proba"] = {"seconds": round(seconds, 2), "sentences_per_s": round(len(texts) / seconds, 1)}
    return out, probs


def segmentation_rate(articles: Path, limit: int) -> dict:
    from pipeline.config import load_params
    from pipeline.inputs import Document
    from pipeline.segmentation import load_boilerplate, segment_article

    params = load_params(ROOT / "configs" / "params.yaml")
    boilerplate = load_boilerplate(ROOT / params.segment.boilerplate_path)
    records = list(read_jsonl(articles))[:limit]
    started = time.perf_counter()
    n = sum(len(segment_article(Document(r["id"], "bench", r["text"]), params.segment, boilerplate)) for r in records)
    seconds = time.perf_counter() - started
    return {"articles": len(records), "sentences": n, "seconds": round(seconds, 2),
            "sentences_per_s": round(n / seconds, 1)}


def machine(device: str) -> dict:
    import os

    import torch
    import transformers

    info = {"cpu_cores": os.cpu_count(), "torch": torch.__version__, "transformers": transformers.__version__}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=Path, required=True, help="score_bench.py's sentences_N.jsonl")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "stance")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--workers", default="0,8,15", help="feed workers (segmentation, tokenisation) of the article runs")
    parser.add_argument("--cpu-labels", type=Path, help="JSON list: the CPU torch labels of --sentences, in order")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    texts = [r["text"] for r in read_jsonl(args.sentences)]
    sentence_file, article_file = write_inputs(texts, args.copies, args.out)
    _, one_copy_articles = write_inputs(texts, 1, args.out / "one_copy")
    total = len(texts) * args.copies
    result = {"machine": machine(args.device), "sentences": total, "model_only": {}, "end_to_end": {}}
    print(json.dumps(result["machine"]), flush=True)

    sizes = [int(size) for size in args.batch_sizes.split(",")]
    for size in sizes:
        result["end_to_end"][f"sentences, batch {size}"] = run_cli(
            [str(sentence_file), "-o", str(args.out / "scored_sentences.jsonl"), "--sentences",
             "--model", str(args.model), "--device", args.device, "--batch-size", str(size)])
        only, probs = model_only(args.model, texts * args.copies, size, args.device)
        result["model_only"][f"batch {size}"] = only
        print(json.dumps(result, indent=1), flush=True)
        save(result, args.out)  # partial results survive a run cut short
    for workers in map(int, args.workers.split(",")):
        # without workers segmentation is slow: one copy is enough to time it
        inputs, copies = (one_copy_articles, "one copy") if workers == 0 else (article_file, f"{args.copies} copies")
        result["end_to_end"][f"articles ({copies}), batch {sizes[-1]}, --workers {workers}"] = run_cli(
            [str(inputs), "-o", str(args.out / "scored_articles.jsonl"), "--model", str(args.model),
             "--device", args.device, "--batch-size", str(sizes[-1]), "--workers", str(workers)])
        print(json.dumps(result["end_to_end"], indent=1), flush=True)
        save(result, args.out)
    result["segmentation_only"] = segmentation_rate(one_copy_articles, limit=len(texts) // ARTICLE_SIZE)

    if args.cpu_labels:
        from pipeline.labels import LABELS

        cpu = json.loads(args.cpu_labels.read_text())
        gpu = [LABELS[int(i)] for i in probs[:len(cpu)].argmax(axis=1)]
        same = [a == b for a, b in zip(cpu, gpu)]
        result["agreement_with_cpu_fp32"] = {"sentences": len(same), "all": round(sum(same) / len(same), 4),
                                             "first_87_real_seed_sentences": round(sum(same[:87]) / 87, 4)}
    save(result, args.out)
    print(json.dumps(result, indent=2))


def save(result: dict, out: Path) -> None:
    (out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
