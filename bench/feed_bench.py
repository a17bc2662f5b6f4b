"""The CPU side of `stance score`, per core, with the model left out (issue 19): how many
sentences a second one core can read, segment, tokenise, batch, turn into rows and write,
i.e. how fast it could feed a GPU.

    python bench/feed_bench.py                      # both inputs, pinned to one core
    python bench/feed_bench.py --splitter pysbd     # the same with pysbd (the path before issue 19)
    python bench/feed_bench.py --keep /tmp/feed     # keep the outputs (to compare two versions)
    python bench/feed_bench.py --profile            # cProfile of each run, top functions
    python bench/feed_bench.py --no-shortcut        # every text through `tokenizers` (no word cache)
    python bench/feed_bench.py --workers 1 --gpu --model-rate 40000   # the GPU set-up, below
    python bench/feed_bench.py --workers 1 --gpu --steps    # + the scoring process's main thread, step by step

What runs is the real scoring code from `pipeline.batch_scoring.run_scoring` down: reading the
inputs (pipeline/inputs.py), segmentation (pipeline/segmentation.py), the streaming windows
(pipeline/score.py), `StanceClassifier.predict_proba` with the model's real tokenizer
(models/stance/tokenizer.json through JsonTokenizer, as the ONNX backends load it: tokenised
once, sorted by length, padded batch by batch, cast to int64 for the session), sentence rows,
article summaries and the output tables (pipeline/tables.py: JSONL, committed with fsync per
window). Only the network is left out: a stand-in ONNX Runtime session returns fixed logits
computed from each row's token count, so labels vary and every run writes the same bytes
(their md5 is printed: it must not change when the CPU side is made faster). Not measured:
process start-up, imports and model loading (a few seconds once per run).

One core: the process pins itself to the first CPU it may use, and RAYON_NUM_THREADS=1 and
TOKENIZERS_PARALLELISM=false keep the tokenizer on it. Batch size: 256, the GPU default
(--batch-size). No feed workers unless asked (that is the per-core figure).

Inputs, written to a temporary folder from seeds/authored_articles.jsonl (438 articles):
(a) pre-split: its 6,665 sentences, repeated under new ids and article ids, to --sentences
    (20,000) JSONL records {"id", "article_id", "text"}, scored with `--sentences`;
(b) articles: each article as a .txt page, the headline on a line of its own, then the body
    sentences two to a paragraph (blank lines between), copied under new names until the
    copies hold --sentences sentences (segmentation gives back about as many).
Results: a table on stdout and bench/results/feed.json: sentences per second of wall time, and
per second of this process's CPU time (steadier where other work shares the core).

The GPU set-up (`--workers N --gpu`): N feed workers segment and tokenise (unpinned: the scoring
process and the workers share the machine's cores), the stand-in says it runs on a GPU, so
`stance score` predicts each window in a thread while it writes the one before, as it does on
a GPU, and with `--model-rate R` each batch holds its thread for len(batch) / R seconds with the
GIL released, as a synchronous GPU call does. Besides the rates, it reports the CPU time per
sentence of the scoring process (`main us/sentence`: what bounds one GPU's feed whatever the
cores, 1e6 / it sentences/s) and of the workers together (`workers us/sentence`: the cores they
need at a given rate), which is what predicts a GPU machine's figure (docs/benchmarks.md).

`--steps`: the scoring process's main thread timed (`time.thread_time`) around each step it
takes: reading the inputs (`read_documents`, listing included), the rest of the feed
(`pieces` less the reading), labels and summaries (`finish_window`), writing the window
(`write_window`); its other threads (the model's, the pool's pickling) are the rest of `main
us/sentence`. And, apart, listing the article folder (`input_files`, us per file) and reading
the pre-split file (`read_documents`, us per sentence), the median of eight rounds; with
`--reading-vs CHECKOUT`, that checkout's pipeline/inputs.py taking turns with this one's in the
same process, and the median of the rounds' ratios. A step the code does not have is left out.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import segmentation  # noqa: E402
from pipeline.batch_scoring import ScoreRequest, run_scoring  # noqa: E402
from pipeline.classifier import JsonTokenizer, OnnxRunner, StanceClassifier, inference_settings  # noqa: E402
from pipeline.config import load_params  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = ROOT / "models" / "stance"


class _Input:
    def __init__(self, name: str):
        self.name = name


class StandInSession:
    """What OnnxRunner asks of an ONNX Runtime session (its inputs, `run`), without a network:
    logits from each row's token count; with a `rate`, each call takes len(batch) / rate seconds
    (sleeping: the GIL released, as while a GPU computes)."""

    def __init__(self, rate: float = 0.0):
        self.rate = rate

    def get_inputs(self):
        return [_Input("input_ids"), _Input("attention_mask"), _Input("token_type_ids")]

    def run(self, names, feed):
        tokens = feed["attention_mask"].sum(axis=1).astype(np.float32)
        if self.rate:
            time.sleep(len(tokens) / self.rate)
        return [np.stack([np.cos(tokens), np.sin(tokens), np.cos(tokens / 2)], axis=1)]


class _Device:
    type = "cuda"


def stand_in_classifier(model_dir: Path = MODEL, shortcut: bool = True, gpu: bool = False,
                        rate: float = 0.0) -> StanceClassifier:
    runner = OnnxRunner(StandInSession(rate), {0: "accusation", 1: "denial", 2: "neutral"}, workers=1)
    if gpu:  # `stance score` then treats it as a GPU model (predicts ahead)
        runner.device = _Device()
    tokenizer = JsonTokenizer.load(model_dir)
    if not shortcut:
        tokenizer.shortcut = None
    return StanceClassifier(runner, tokenizer, **inference_settings(model_dir))


def authored() -> dict[str, list[str]]:
    groups = collections.defaultdict(list)
    rows = [json.loads(line) for line in open(ROOT / "seeds" / "authored_articles.jsonl", encoding="utf-8")]
    for row in sorted(rows, key=lambda r: (r["article_id"], r["index"])):
        groups[row["article_id"]].append(row["text"].strip())
    return groups


def write_sentences(path: Path, groups: dict[str, list[str]], n: int) -> None:
    written, copy = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < n:
            for article_id, sentences in groups.items():
                for sentence in sentences:
                    if written == n:
                        break
                    out.write(json.dumps({"id": f"s{written}", "article_id": f"{article_id}-{copy}", "text": sentence},
                                         ensure_ascii=False) + "\n")
                    written += 1
            copy += 1


def page(sentences: list[str]) -> str:
    body = [" ".join(sentences[i:i + 2]) for i in range(1, len(sentences), 2)]
    return "\n\n".join(sentences[:1] + body) + "\n"


def write_articles(folder: Path, groups: dict[str, list[str]], n: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    written, copy, files = 0, 0, 0
    while written < n:
        for article_id, sentences in groups.items():
            if written >= n:
                break
            (folder / f"{article_id}-{copy}.txt").write_text(page(sentences), encoding="utf-8")
            written += len(sentences)
            files += 1
        copy += 1
    return files


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else ""


@contextlib.contextmanager
def main_thread_steps():
    """{step: seconds of this thread} for the steps of `run_scoring` (see --steps)."""
    import pipeline.batch_scoring as batch_scoring
    import pipeline.score as score

    spent: dict[str, float] = collections.defaultdict(float)

    def generator(name, fn):
        def timed(*args, **kwargs):
            items = fn(*args, **kwargs)
            while True:
                started = time.thread_time()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    spent[name] += time.thread_time() - started
                yield item
        return timed

    def function(name, fn):
        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - started
        return timed

    patches = [(batch_scoring, "read_documents", generator), (score, "pieces", generator),
               (score, "finish_window", function), (batch_scoring, "write_window", function)]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in patches if hasattr(module, attr)]
    for module, attr, wrap in patches:
        if hasattr(module, attr):
            setattr(module, attr, wrap(attr, getattr(module, attr)))
    try:
        yield spent
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


def steps_per_sentence(spent: dict[str, float], sentences: int) -> dict[str, float]:
    out = {"read_documents": spent.get("read_documents", 0.0),
           "rest of the feed": spent.get("pieces", 0.0) - spent.get("read_documents", 0.0)}
    out.update({k: spent[k] for k in ("finish_window", "write_window") if k in spent})
    return {k: round(v / sentences * 1e6, 1) for k, v in out.items()}


def reading(articles: Path, sentences: Path, other: Path | None = None, rounds: int = 8) -> dict:
    """Listing the article folder (us per file) and reading the pre-split file (us per
    sentence): the median of `rounds`. With `other` (a checkout), its pipeline/inputs.py is
    timed too, in this process, taking turns with this one's, and each round's ratio kept:
    pairing keeps the comparison fair when the host's speed drifts."""
    import importlib.util
    import statistics

    from pipeline import inputs

    versions = {"this": inputs}
    if other is not None:
        spec = importlib.util.spec_from_file_location("other_inputs", other / "pipeline" / "inputs.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["other_inputs"] = module  # (dataclasses look their module up)
        spec.loader.exec_module(module)
        versions["other"] = module
    exclude = [articles.parent / "out" / "x.jsonl"]
    listing: dict = collections.defaultdict(list)
    read: dict = collections.defaultdict(list)
    for i in range(rounds):
        for name in (list(versions) if i % 2 == 0 else list(reversed(versions))):
            module = versions[name]
            started = time.perf_counter()
            files = sum(1 for _ in module.input_files([str(articles)], print, exclude))
            listing[name].append((time.perf_counter() - started) / files * 1e6)
            started = time.perf_counter()
            n = sum(len(doc.sentences) for doc in module.read_documents(
                [str(sentences)], module.InputConfig(sentences=True), print))
            read[name].append((time.perf_counter() - started) / n * 1e6)
    out = {name: {"listing_us_per_file": round(statistics.median(listing[name]), 1),
                  "read_presplit_us_per_sentence": round(statistics.median(read[name]), 2)} for name in versions}
    if other is not None:
        out["other_over_this_median_ratio"] = {
            "listing": round(statistics.median(o / t for o, t in zip(listing["other"], listing["this"])), 2),
            "read_presplit": round(statistics.median(o / t for o, t in zip(read["other"], read["this"])), 2)}
    return {"files": files, "presplit_sentences": n, "rounds": rounds, **out}


def run(name: str, inputs: list[str], sentences: bool, out_dir: Path, batch_size: int, profile: bool,
        shortcut: bool = True, workers: int = 0, gpu: bool = False, rate: float = 0.0, steps: bool = False) -> dict:
    import resource

    # afresh: the word cache starts empty every run
    classifier = stand_in_classifier(shortcut=shortcut, gpu=gpu, rate=rate)
    params = load_params(ROOT / "configs" / "params.yaml")
    boilerplate = segmentation.load_boilerplate(ROOT / params.segment.boilerplate_path)
    output = out_dir / f"{name}.jsonl"
    summary = out_dir / f"{name}.articles.jsonl"
    request = ScoreRequest(inputs, output, summary, sentences=sentences, batch_size=batch_size, workers=workers,
                           overwrite=True, model="bench:stand-in")
    warnings: list[str] = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with main_thread_steps() if steps else contextlib.nullcontext({}) as spent:
        started, cpu = time.perf_counter(), time.process_time()
        line, skipped = run_scoring(request, classifier, params.segment, boilerplate, True, warnings.append)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, reaped when the run ends
    workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    scored = sum(1 for _ in open(output, encoding="utf-8"))
    return {"sentences": scored, "seconds": round(seconds, 3), "sentences_per_s": round(scored / seconds),
            "cpu_seconds": round(cpu, 3), "sentences_per_cpu_s": round(scored / cpu),
            "main_us_per_sentence": round(cpu / scored * 1e6, 1),
            "workers_us_per_sentence": round(workers_cpu / scored * 1e6, 1),
            "skipped": skipped, "md5_sentences": md5(output), "md5_summaries": md5(summary),
            **({"main_thread_us_per_sentence": steps_per_sentence(spent, scored)} if steps else {})}


def use_pysbd() -> None:
    from splitter_bench import pysbd_split

    segmentation.split = pysbd_split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--splitter", choices=("new", "pysbd"), default="new")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each input; the best is reported")
    parser.add_argument("--only", choices=("pre-split", "articles"), help="one input only")
    parser.add_argument("--keep", type=Path, help="write the outputs here (default: a temporary folder)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    parser.add_argument("--no-shortcut", action="store_true",
                        help="tokenise every text with `tokenizers` (JsonTokenizer without its WordPieceShortcut)")
    parser.add_argument("--workers", type=int, default=0, help="feed workers (then not pinned to one core)")
    parser.add_argument("--gpu", action="store_true", help="the stand-in says it is on a GPU (stance score predicts ahead)")
    parser.add_argument("--model-rate", type=float, default=0.0,
                        help="sentences/s of the stand-in model (each batch sleeps); 0 = instant")
    parser.add_argument("--steps", action="store_true",
                        help="time the scoring process's main thread step by step, and listing and reading apart")
    parser.add_argument("--reading-vs", type=Path,
                        help="with --steps: time another checkout's pipeline/inputs.py too, taking turns")
    parser.add_argument("--out", type=Path, default=RESULTS / "feed.json")
    args = parser.parse_args()

    if not args.all_cores and not args.workers and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.splitter == "pysbd":
        use_pysbd()
    # a fixed folder: the summaries record each input's path, and their bytes are compared across runs
    scratch = Path(tempfile.gettempdir()) / "stance-feed-bench"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    out_dir = args.keep or scratch / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"splitter": args.splitter, "batch_size": args.batch_size, "shortcut": not args.no_shortcut,
                     "workers": args.workers, "gpu": args.gpu, "model_rate": args.model_rate,
                     "tokenizer": str(MODEL / "tokenizer.json"),
                     "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None, "runs": {}}
    try:
        groups = authored()
        jsonl = scratch / "sentences.jsonl"
        write_sentences(jsonl, groups, args.sentences)
        files = write_articles(scratch / "articles", groups, args.sentences)
        results["article_files"] = files
        cases = {"pre-split": ([str(jsonl)], True), "articles": ([str(scratch / "articles")], False)}
        for name, (inputs, sentences) in cases.items():
            if args.only and name != args.only:
                continue
            runs = [run(name, inputs, sentences, out_dir, args.batch_size, args.profile, not args.no_shortcut,
                        args.workers, args.gpu, args.model_rate, args.steps) for _ in range(args.repeats)]
            best = max(runs, key=lambda r: r["sentences_per_s"])
            best["all_runs_per_s"] = [r["sentences_per_s"] for r in runs]
            results["runs"][name] = best
        if args.steps:
            results["reading"] = reading(scratch / "articles", jsonl, args.reading_vs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    model = f"stand-in model at {args.model_rate:,.0f} sentences/s" if args.model_rate else "model left out"
    print(f"splitter {args.splitter}, batch {args.batch_size}, shortcut {'off' if args.no_shortcut else 'on'}, "
          f"{results['cores']} core(s), {args.workers} feed workers{', as on a GPU' if args.gpu else ''}, {model}")
    print("| input | sentences | seconds | sentences/s, wall (all runs) | sentences per CPU second | "
          "main us/sentence | workers us/sentence | md5 sentences / summaries |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results["runs"].items():
        print(f"| {name} | {r['sentences']:,} | {r['seconds']} | {r['sentences_per_s']:,} "
              f"({', '.join(map(str, r['all_runs_per_s']))}) | {r['sentences_per_cpu_s']:,} | "
              f"{r['main_us_per_sentence']} | {r['workers_us_per_sentence']} | "
              f"{r['md5_sentences'][:8]} / {r['md5_summaries'][:8]} |")
    if args.steps:
        print("main thread, us/sentence:", {name: r["main_thread_us_per_sentence"] for name, r in results["runs"].items()})
        print("listing and reading apart:", results["reading"])
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
