"""`stance score --engine spark`: score an archive on Apache Spark, a local session or a cluster.

The executors run what `stance score` runs on one machine, per partition: the same readers
(pipeline/inputs.py), the same segmentation and the same windows and rows
(pipeline/score.py), with the ONNX backends (ONNX Runtime and `tokenizers`: no torch or
transformers on the executors). Only reading and writing go through Spark.

Inputs (each INPUT is anything Spark reads: a local path, hdfs://, s3a:// with the user's
Spark config):
    a folder, file or glob   .txt / .html / .htm articles and .jsonl tables, read as whole
                             files (Spark's binaryFile source): the ids, digests and error
                             lines of `stance score` for the same files. A JSONL table is read
                             by one task per file: split a large one into parts.
    NAME.parquet             a Parquet table (file or folder) with a string `text` column and
                             optional `id` (and `article_id` with --sentences); rows without an
                             id are `<NAME>:<row number>`, as JSONL lines are `<stem>:<line>`.
The model travels to the executors through Spark (`SparkContext.addFile`): a model folder
with the ONNX export, or an MLflow URI resolved (and, if it holds only the safetensors
model, exported) on the driver.

Output, beside each other (Parquet datasets, i.e. folders):
    OUT                      sentence rows: the columns of `stance score` (score.SENTENCE_COLUMNS)
    OUT.articles             one summary per article (score.SUMMARY_COLUMNS); for
                             `scores.parquet`: scores.articles.parquet
    OUT.errors               this run's bad inputs: path, reason (rewritten by every run)
A rerun resumes: articles already summarised with the same content and model are not
scored again (so no duplicates); an article whose content changed is scored again and its
old rows are dropped; sentence rows of an article without a summary (a run killed between
the two writes) are dropped before scoring. Another model or backend into the same OUT is
refused unless `overwrite`. Rewrites go to a temporary sibling that then replaces OUT.
Spark's file reader skips empty (0-byte) files without a word, so unlike `stance score`
they do not appear in OUT.errors.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.batch_scoring import ResumeError
from pipeline.config import SegmentConfig
from pipeline.inputs import Document, InputConfig, digest, documents_from_bytes
from pipeline.score import SENTENCE_COLUMNS, SUMMARY_COLUMNS, ScoreConfig, Scorer, score_documents

ERROR_COLUMNS = {"path": "str", "reason": "str"}
BACKENDS = ("onnx", "onnx-fp32")


@dataclass(frozen=True)
class SparkScoreRequest:
    """What a user asked `stance score --engine spark` for."""

    inputs: list[str]
    output: str
    model: str  # a model folder or an MLflow URI
    backend: str = "onnx"
    master: str | None = None  # None: spark-submit's, else local[*]
    sentences: bool = False
    batch_size: int | None = None
    overwrite: bool = False


@dataclass
class SparkRun:
    articles: int = 0
    sentences: int = 0
    already_done: int = 0
    rescored: int = 0
    errors: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def sibling(output: str, tag: str) -> str:
    """scores.parquet -> scores.<tag>.parquet; scores -> scores.<tag>"""
    output = output.rstrip("/")
    return output[:-len(".parquet")] + f".{tag}.parquet" if output.endswith(".parquet") else f"{output}.{tag}"


def spark_schema(columns: dict[str, str]):
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    kinds = {"str": StringType(), "int": LongType(), "float": DoubleType()}
    return StructType([StructField(name, kinds[kind], True) for name, kind in columns.items()])


def _as_tuple(row: dict, columns: dict[str, str]) -> tuple:
    cast = {"str": str, "int": int, "float": float}
    return tuple(None if row.get(c) is None else cast[k](row[c]) for c, k in columns.items())


# --- the executors' side ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExecutorPlan:
    """Everything a partition needs, shipped to the executors with the task."""

    model_name: str  # the model folder's name among the SparkFiles
    backend: str
    threads: int
    batch_size: int | None
    identity: str  # backend and model hash, recorded in the summaries
    segment: SegmentConfig
    boilerplate: list[re.Pattern]
    input_config: InputConfig
    done: object  # a Broadcast of {article id: content hash} of the articles already in the output


@lru_cache(maxsize=2)
def _classifier(folder: str, backend: str, threads: int):
    """One classifier per executor process (Python workers are reused across tasks)."""
    from pipeline.classifier import StanceClassifier

    return StanceClassifier.load(folder, backend=backend, threads=threads)


def _documents(items: Iterable[tuple], config: InputConfig, report: Callable[[str], None]) -> Iterator[Document]:
    for item in items:
        kind = item[0]
        if kind == "file":  # (path, article-id base, bytes)
            _, path, base, raw = item
            yield from documents_from_bytes(path, base, bytes(raw), config, report)
        elif kind == "article":  # a Parquet row: (source, id, text)
            _, source, article_id, text = item
            yield Document(article_id, source, text, digest=digest(text))
        else:  # "sentences": (source, article id, [Sentence, ...]) of a Parquet table
            _, source, article_id, sentences = item
            yield Document(article_id, source, sentences=sentences,
                           digest=digest(*(f"{s.sentence_id}\x00{s.text}" for s in sentences)))


def score_partition(items: Iterable[tuple], plan: ExecutorPlan) -> Iterator[tuple[str, tuple]]:
    """("sentence" | "article" | "error" | "done" | "changed", row) for a partition's inputs."""
    from pyspark import SparkFiles

    errors: list[str] = []
    done: dict[str, str] = plan.done.value
    seen: set[str] = set()
    skipped: list[tuple[str, tuple]] = []

    def fresh(documents: Iterable[Document]) -> Iterator[Document]:
        for doc in documents:
            if done.get(doc.article_id) == doc.digest:
                skipped.append(("done", (doc.article_id,)))
                continue
            if doc.article_id in seen:
                errors.append(f"{doc.source}: duplicate article id {doc.article_id!r}")
                continue
            seen.add(doc.article_id)
            if doc.article_id in done:
                skipped.append(("changed", (doc.article_id,)))
            yield doc

    classifier = _classifier(SparkFiles.get(plan.model_name), plan.backend, plan.threads)
    batch = plan.batch_size or classifier.default_batch_size
    windows = score_documents(ScoreConfig(batch_size=batch), fresh(_documents(items, plan.input_config, errors.append)),
                              Scorer.of(classifier, batch),
                              plan.segment, plan.boilerplate, plan.identity)
    for window in windows:
        yield from (("sentence", _as_tuple(r, SENTENCE_COLUMNS)) for r in window.rows)
        yield from (("article", _as_tuple(r, SUMMARY_COLUMNS)) for r in window.finished)
        yield from skipped
        skipped.clear()
    yield from skipped
    for problem in errors:
        path, _, reason = problem.partition(": ")
        yield "error", (path, reason)


# --- the driver's side ------------------------------------------------------------------------

def session(master: str | None, app_name: str = "stance score"):
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4.x warns on every session that it "does not yet fully support pandas >= 3";
    # nothing here goes through pandas
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    if not master and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, which sets the master
        master = "local[*]"
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        # one machine: nothing listens beyond it (on a cluster the executors must reach the driver)
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1") \
            .config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def model_folder(spec: str, backend: str, scratch: Path) -> Path:
    """The ONNX model folder for `spec`: a folder as given, or an MLflow URI downloaded and,
    where it holds the safetensors model only, exported here (torch on the driver only)."""
    from pipeline.classifier import ONNX_FILES
    from pipeline.tracking import resolve_model

    if backend not in BACKENDS:
        raise ValueError(f"--backend: {backend!r}: the Spark engine runs {' or '.join(BACKENDS)} (no torch on the executors)")
    folder = resolve_model(spec, scratch)
    if not folder.is_dir():
        raise ValueError(f"--model {spec}: no such model folder")
    if not (folder / ONNX_FILES[backend]).exists():
        if not (folder / "model.safetensors").exists():
            raise ValueError(f"--model {spec}: neither an ONNX export nor a safetensors model in {folder}")
        from pipeline.export import run as export

        export(folder, scratch / "onnx")
        folder = scratch / "onnx"
    return folder


def _hadoop_fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def _exists(spark, path: str) -> bool:
    fs, hpath = _hadoop_fs(spark, path)
    return fs.exists(hpath)


def _delete(spark, path: str) -> None:
    fs, hpath = _hadoop_fs(spark, path)
    if fs.exists(hpath):
        fs.delete(hpath, True)


def _replace(spark, source: str, target: str) -> None:
    """Move the dataset `source` to `target`, replacing it."""
    _delete(spark, target)
    fs, hsource = _hadoop_fs(spark, source)
    if not fs.rename(hsource, _hadoop_fs(spark, target)[1]):
        raise OSError(f"{target}: could not move {source} into place")


def _inputs(spark, spec: str, config: InputConfig, errors: list[tuple[str, str]]):
    """An RDD of the partition items of one INPUT; problems found on the driver go to `errors`."""
    from pyspark.sql import functions as F
    from pyspark.sql.utils import AnalysisException

    try:
        if spec.rstrip("/").endswith(".parquet"):
            return _parquet_items(spark.read.parquet(spec), spec, config, errors)
        files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(spec)
    except AnalysisException as err:
        errors.append((spec, "no such file or folder" if "PATH_NOT_FOUND" in str(err) or "does not exist" in str(err)
                       else str(err).splitlines()[0]))
        return None
    fs, hpath = _hadoop_fs(spark, spec)
    folder = fs.exists(hpath) and fs.getFileStatus(hpath).isDirectory()
    root = fs.makeQualified(hpath).toString().rstrip("/") + "/" if folder else None
    limit = config.max_article_bytes
    # the size is known before the content is read: a huge file is never loaded to be rejected
    for row in files.where(F.col("length") > limit).select("path", "length").collect():
        errors.append((row.path, f"too large ({row.length:,} bytes > limit {limit:,})"))
    listed = files.select("path").limit(1).count()
    if not listed:
        errors.append((spec, "no files in this folder" if folder else "no file matches"))
        return None

    def item(row) -> tuple:
        path = row.path
        rel = path[len(root):] if root and path.startswith(root) else path.rsplit("/", 1)[-1]
        base = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
        return "file", path, base if root else Path(base).name, row.content

    return files.where(F.col("length") <= limit).select("path", "content").rdd.map(item)


def _parquet_items(table, spec: str, config: InputConfig, errors: list[tuple[str, str]]):
    from pipeline.segmentation import Sentence, sentence_id

    if "text" not in table.columns:
        errors.append((spec, f"no 'text' column (columns: {', '.join(table.columns)})"))
        return None
    stem = Path(spec.rstrip("/")).stem
    columns = [c for c in ("text", "id", "article_id") if c in table.columns]
    rows = table.select(*columns).rdd.zipWithIndex()
    limit = config.max_article_bytes

    def problem(row, n: int) -> str | None:
        text = row["text"]
        if not isinstance(text, str) or not text.strip():
            return "needs a non-empty string 'text'"
        if len(text.encode("utf-8")) > limit:
            return f"text too large (limit {limit:,} bytes)"
        return None

    def text_id(row, key: str, default: str) -> str:
        value = row[key] if key in columns else None
        return default if value is None or value == "" else str(value)

    bad = rows.filter(lambda r: problem(r[0], r[1]) is not None) \
        .map(lambda r: (f"{spec}:{r[1] + 1}", problem(r[0], r[1])))
    errors.extend(bad.collect())
    good = rows.filter(lambda r: problem(r[0], r[1]) is None)
    if not config.sentences:
        return good.map(lambda r: ("article", f"{spec}:{r[1] + 1}", text_id(r[0], "id", f"{stem}:{r[1] + 1}"),
                                   r[0]["text"]))

    def article(group):
        article_id, members = group
        members = sorted(members, key=lambda r: r[1])
        sentences = [Sentence(text_id(row, "id", sentence_id(article_id, row["text"])), article_id, i, None, None,
                              row["text"]) for i, (row, _) in enumerate(members)]
        return "sentences", spec, article_id, sentences

    return good.groupBy(lambda r: text_id(r[0], "article_id", stem)).map(article)


def _read_done(spark, summaries: str, identity: str) -> dict[str, str]:
    if not _exists(spark, summaries):
        return {}
    done: dict[str, str] = {}
    for row in spark.read.parquet(summaries).select("article_id", "article_sha1", "model").collect():
        if row.model != identity:
            raise ResumeError(f"{summaries}: scored with model {row.model or 'unknown'}, not {identity}: "
                              "use --overwrite to start afresh, or another output")
        done[row.article_id] = row.article_sha1
    return done


def _rewrite(spark, path: str, versions, how: str, columns: dict[str, str]) -> None:
    """Rewrite the dataset at `path` keeping the rows whose (article_id, article_sha1) is
    (how="left_semi") or is not (how="left_anti") in the DataFrame `versions`: written to a
    temporary sibling first, then moved into place. Nothing is rewritten if nothing changes."""
    if not _exists(spark, path):
        return
    table = spark.read.parquet(path)
    kept = table.join(versions, ["article_id", "article_sha1"], how).select(*columns)
    if kept.count() == table.count():
        return
    staging = f"{path.rstrip('/')}.tmp-{os.getpid()}"
    kept.write.mode("overwrite").parquet(staging)
    _replace(spark, staging, path)


def run_spark_scoring(request: SparkScoreRequest, segment: SegmentConfig, boilerplate: list[re.Pattern],
                      report: Callable[[str], None] = print, spark=None) -> SparkRun:
    from pyspark import StorageLevel

    from pipeline.score import model_identity

    result = SparkRun()
    out, summaries, errors_path = request.output.rstrip("/"), sibling(request.output, "articles"), sibling(request.output, "errors")
    config = InputConfig(segment.max_article_bytes, request.sentences)
    with tempfile.TemporaryDirectory(prefix="stance-spark-") as scratch:
        folder = model_folder(request.model, request.backend, Path(scratch))  # fails before Spark starts
        identity = model_identity(folder, request.backend)
        spark = spark or session(request.master)
        sc = spark.sparkContext
        if request.overwrite:
            for path in (out, summaries):
                _delete(spark, path)
        done = _read_done(spark, summaries, identity)
        if _exists(spark, out):  # rows of articles a killed run left without a summary
            finished = spark.read.parquet(summaries).select("article_id", "article_sha1") if done else \
                spark.createDataFrame([], "article_id string, article_sha1 string")
            _rewrite(spark, out, finished, "left_semi", SENTENCE_COLUMNS)
        sc.addFile(str(folder), recursive=True)
        plan = ExecutorPlan(folder.name, request.backend, int(sc.getConf().get("spark.task.cpus", "1")),
                            request.batch_size, identity, segment, boilerplate, config, sc.broadcast(done))
        problems: list[tuple[str, str]] = []
        parts = [rdd for rdd in (_inputs(spark, spec, config, problems) for spec in request.inputs) if rdd is not None]
        scored = sc.union(parts).mapPartitions(lambda items: score_partition(items, plan)) if parts else sc.emptyRDD()
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)  # computed once for the three outputs
        try:
            sentences = spark.createDataFrame(scored.filter(lambda r: r[0] == "sentence").map(lambda r: r[1]),
                                              spark_schema(SENTENCE_COLUMNS))
            sentences.write.mode("append").parquet(out)  # sentences first: an article is done once summarised
            articles = spark.createDataFrame(scored.filter(lambda r: r[0] == "article").map(lambda r: r[1]),
                                             spark_schema(SUMMARY_COLUMNS))
            articles.write.mode("append").parquet(summaries)
            tally = dict(scored.filter(lambda r: r[0] != "error").map(lambda r: (r[0], 1))
                         .reduceByKey(lambda a, b: a + b).collect())
            # errors and changed articles are few: one job brings both to the driver
            few = scored.filter(lambda r: r[0] in ("error", "changed")).collect()
            problems += [value for kind, value in few if kind == "error"]
            changed = [value[0] for kind, value in few if kind == "changed"]
            if changed:  # drop the rows of the content these articles had before
                stale = spark.createDataFrame([(a, done[a]) for a in changed], "article_id string, article_sha1 string")
                for path, columns in ((summaries, SUMMARY_COLUMNS), (out, SENTENCE_COLUMNS)):
                    _rewrite(spark, path, stale, "left_anti", columns)
        finally:
            scored.unpersist()
        spark.createDataFrame(problems, spark_schema(ERROR_COLUMNS)).coalesce(1).write.mode("overwrite").parquet(errors_path)
    for path, reason in problems:
        report(f"{path}: {reason}")
    result.articles, result.sentences = tally.get("article", 0), tally.get("sentence", 0)
    result.already_done, result.rescored = tally.get("done", 0), len(changed)
    result.errors = [f"{p}: {r}" for p, r in problems]
    result.outputs = {"sentences": out, "articles": summaries, "errors": errors_path}
    return result


def summary_line(run: SparkRun) -> str:
    resumed = f" ({run.already_done} already in the output)" if run.already_done else ""
    resumed += f" ({run.rescored} changed since, scored again)" if run.rescored else ""
    return (f"score (spark): {run.articles} articles, {run.sentences:,} sentences{resumed}, "
            f"{len(run.errors)} inputs skipped -> {', '.join(run.outputs.values())}")


def score_command(request: SparkScoreRequest, segment: SegmentConfig, boilerplate: list[re.Pattern],
                  warn: Callable[[str], None], local_only: list[str] = ()) -> tuple[str, list[str]]:
    """`stance score --engine spark`: (closing line, skipped inputs); ValueError with one line
    for options of the local engine only, a bad model or a refused resume."""
    if local_only or "-" in request.inputs:
        raise ValueError(f"{', '.join(local_only) or 'standard input (-)'}: not with --engine spark "
                         "(it writes OUTPUT, OUTPUT.articles and OUTPUT.errors)")
    result = run_spark_scoring(request, segment, boilerplate, warn)
    return summary_line(result), result.errors
