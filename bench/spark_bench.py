"""`stance score --engine spark --master local[2]` against `stance score` (the local engine)
with the same ONNX backend, on the same 20,000 pre-split sentences, on this machine's cores;
the fixed cost of a Spark run (JVM, session, job set-up) from a 25-sentence input; and the
label agreement between the two engines.

    python bench/spark_bench.py [--sentences 20000] [--backend onnx] [--model models/stance-onnx]

The sentences are score_bench.py's (real-length: the seed sentences, name-swapped copies,
joined authored pairs), written as 8 JSONL part files of 25-sentence articles, so that Spark
has parts to spread over its cores (it reads a JSONL table one task per file). Each run is
a fresh process (bench/score_bench.py `timed`). Results: bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from score_bench import ARTICLE_SIZE, DATA, RESULTS, real_length_sentences, timed  # noqa: E402

PARTS = 8


def write_parts(texts: list[str], folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    articles = [texts[i:i + ARTICLE_SIZE] for i in range(0, len(texts), ARTICLE_SIZE)]
    for part in range(PARTS):
        with open(folder / f"part-{part:02d}.jsonl", "w", encoding="utf-8") as handle:
            for a in range(part, len(articles), PARTS):
                for i, text in enumerate(articles[a]):
                    handle.write(json.dumps({"id": f"a{a}-s{i}", "article_id": f"a{a}", "text": text}) + "\n")


def local(folder: Path, out: Path, backend: str, model: str) -> dict:
    out.unlink(missing_ok=True)
    return timed(["stance", "score", str(folder), "-o", str(out), "--sentences", "--backend", backend,
                  "--model", model, "--quiet", "--overwrite"])


def spark(folder: Path, out: Path, backend: str, model: str, master: str) -> dict:
    return timed(["stance", "score", str(folder), "-o", str(out), "--engine", "spark", "--master", master,
                  "--sentences", "--backend", backend, "--model", model, "--quiet", "--overwrite"])


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--model", default=str(ROOT / "models" / "stance-onnx"))
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    texts, _ = real_length_sentences(args.sentences)
    folder, tiny = DATA / "spark_in", DATA / "spark_tiny"
    write_parts(texts, folder)
    write_parts(texts[:ARTICLE_SIZE], tiny)
    out_local, out_spark = DATA / "spark_local.jsonl", DATA / "spark_out.parquet"
    results = {"sentences": len(texts), "backend": args.backend, "master": args.master,
               "fixed_cost": spark(tiny, DATA / "spark_tiny_out.parquet", args.backend, args.model, args.master),
               "local": local(folder, out_local, args.backend, args.model),
               "spark": spark(folder, out_spark, args.backend, args.model, args.master)}
    for name in ("local", "spark"):
        results[name]["sentences_per_s"] = round(len(texts) / results[name]["seconds"], 1)
    a = pd.read_json(out_local, lines=True)[["article_id", "index", "label"]]
    b = pd.read_parquet(out_spark, columns=["article_id", "index", "label"])
    joined = a.merge(b, on=["article_id", "index"], suffixes=("_local", "_spark"))
    results["rows"] = {"local": len(a), "spark": len(b), "joined": len(joined)}
    results["label_agreement"] = round(float((joined.label_local == joined.label_spark).mean()), 5)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "spark.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
