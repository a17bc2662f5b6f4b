"""The I/O around the `score` stage: inputs in, sentence and summary tables out, resumable.

Protocol that makes an interrupted run safe to repeat: for every window, the sentence
rows are written and committed first, then the summaries of the articles the window
finished. An article counts as done only once its summary is committed, so on the next
run the summary table says what is done; sentence rows of unfinished articles (and any
torn line) are dropped, and those articles are scored again. No half record, no duplicate.

What is done is keyed on content and model, not on the article id alone: every row carries
the hash of the article content it was scored from (`article_sha1`) and every summary the
model that scored it (`model`: backend and model hash). An article whose content changed is
scored again and its old rows are dropped (at the end of the run, or at the start of the
next if the run is cut short); a run with another model or backend into an output that
holds rows of a different one is refused (ResumeError) unless it starts afresh (`overwrite`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import SegmentConfig
from pipeline.inputs import Document, InputConfig, read_documents
from pipeline.score import SENTENCE_COLUMNS, SUMMARY_COLUMNS, ScoreConfig, ScoredWindow, Scorer, score_documents
from pipeline.tables import KEY_SEP, Table, remove_table


@dataclass
class RunStats:
    articles: int = 0
    sentences: int = 0
    already_done: int = 0
    rescored: int = 0  # articles in the output whose content changed, scored again
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0


def summary_path_for(output: Path) -> Path:
    """scores.jsonl -> scores.articles.jsonl"""
    return output.with_name(f"{output.stem}.articles{output.suffix}")


class ResumeError(ValueError):
    """The output holds rows that this run must not mix with its own."""


def _fresh(documents: Iterable[Document], done: dict[str, str], stats: RunStats, report) -> Iterator[Document]:
    """Documents not yet in the output with this content, each article id once."""
    seen: dict[str, str] = {}
    for doc in documents:
        if done.get(doc.article_id) == doc.digest and doc.article_id not in seen:
            seen[doc.article_id] = doc.source
            stats.already_done += 1
        elif doc.article_id in seen:
            report(f"{doc.source}: duplicate article id {doc.article_id!r} (also {seen[doc.article_id]})")
        else:
            seen[doc.article_id] = doc.source
            stats.rescored += doc.article_id in done
            yield doc


def run_batch_scoring(inputs: list[str], output: Path, summary_path: Path, scorer: Scorer,
                      segment_config: SegmentConfig, boilerplate: list[re.Pattern], input_config: InputConfig,
                      score_config: ScoreConfig, overwrite: bool = False,
                      report: Callable[[str], None] = print,
                      on_window: Callable[[RunStats], None] | None = None, stdin=None,
                      exclude: Iterable[Path] = (), model: str = "") -> RunStats:
    stats = RunStats()
    sentences, summaries = Table(output, SENTENCE_COLUMNS), Table(summary_path, SUMMARY_COLUMNS)
    if overwrite:
        remove_table(output)
        remove_table(summary_path)
    done = _done(summaries, model, summary_path)
    summaries.keep_only(VERSION, _versions(done))
    sentences.keep_only(VERSION, _versions(done))

    def skip(problem: str) -> None:
        stats.skipped.append(problem)
        report(problem)

    started = time.perf_counter()
    documents = _fresh(read_documents(inputs, input_config, skip, stdin, [output, summary_path, *exclude]), done, stats, skip)
    try:
        for window in score_documents(score_config, documents, scorer, segment_config, boilerplate, model,
                                      jsonl=sentences.format == "jsonl"):
            write_window(sentences, window)
            sentences.commit()
            summaries.write(window.finished)
            summaries.commit()
            stats.sentences += len(window.block)
            stats.articles += len(window.finished)
            stats.seconds = time.perf_counter() - started
            if on_window:
                on_window(stats)
    finally:
        sentences.close()
        summaries.close()
    if stats.rescored:  # drop the rows of the content these articles had before
        current = _versions(_done(summaries, model, summary_path))
        summaries.keep_only(VERSION, current)
        sentences.keep_only(VERSION, current)
    stats.seconds = time.perf_counter() - started
    return stats


def write_window(table: Table, window: ScoredWindow) -> None:
    """A window's sentence rows, by the quickest path to the table's format: JSONL joined from
    the heads the feed made, Parquet from columns, CSV row by row."""
    if table.format == "jsonl":
        table.write_jsonl(window.jsonl())
    elif table.format == "parquet":
        table.write_columns(window.columns())
    else:
        table.write(window.rows)


VERSION = ("article_id", "article_sha1")  # what a row was scored from


def _done(summaries: Table, model: str, path: Path) -> dict[str, str]:
    """article id -> content hash of every finished article (the newest summary wins)."""
    done: dict[str, str] = {}
    for row in summaries.rows():
        if model and row.get("model") != model:
            raise ResumeError(f"{path}: scored with model {row.get('model') or 'unknown'}, not {model}: "
                              "use --overwrite to start afresh, or another output")
        done[str(row["article_id"])] = str(row.get("article_sha1") or "")
    return done


def _versions(done: dict[str, str]) -> set[str]:
    return {KEY_SEP.join(pair) for pair in done.items()}


@dataclass(frozen=True)
class ScoreRequest:
    """What a user asked `stance score` for (the CLI's options)."""

    inputs: list[str]
    output: Path
    summary: Path | None = None  # None: OUTPUT with .articles before the suffix
    html: Path | None = None
    sentences: bool = False
    stdin_format: str = "txt"
    batch_size: int | None = None
    workers: int | None = None
    overwrite: bool = False
    model: str = ""  # what scores: backend and model hash, recorded in the summaries


def score_command(request: ScoreRequest, model: str, backend: str, device: str, threads: int,
                  segment_config: SegmentConfig, boilerplate: list[re.Pattern], quiet: bool,
                  warn: Callable[[str], None]) -> tuple[str, list[str]]:
    """`stance score` on this machine: checks the output names, loads the model (a folder or
    an MLflow URI), scores. ValueError with one line for a bad output, model or resume;
    returns the closing line and the inputs that were skipped."""
    import dataclasses
    import tempfile

    from pipeline.tables import table_format
    from pipeline.score import model_identity
    from pipeline.tracking import load_model

    request = dataclasses.replace(request, summary=request.summary or summary_path_for(request.output))
    table_format(request.output), table_format(request.summary)
    with tempfile.TemporaryDirectory(prefix="stance-score-") as scratch:
        folder, classifier = load_model(model, backend, Path(scratch), device, threads)
        request = dataclasses.replace(request, model=model_identity(folder, backend))
        return run_scoring(request, classifier, segment_config, boilerplate, quiet, warn)


def default_workers(classifier) -> int:
    """On a GPU, the CPU side (segmentation, tokenisation) is the bottleneck: give it the cores
    the model does not need (docs/benchmarks.md). On a CPU the model wants every core."""
    from pipeline.classifier import cpu_count

    return min(16, cpu_count() - 1) if classifier.on_gpu else 0


def run_scoring(request: ScoreRequest, classifier, segment_config: SegmentConfig, boilerplate: list[re.Pattern],
                quiet: bool, warn: Callable[[str], None]) -> tuple[str, list[str]]:
    """Score the request with `classifier`, with a progress display on a terminal; returns the
    closing summary line and the inputs that were skipped."""
    from pipeline.report import write_html_report

    config = ScoreConfig(batch_size=request.batch_size,
                         workers=default_workers(classifier) if request.workers is None else request.workers,
                         ahead=classifier.on_gpu)
    batch = config.batch_size or classifier.default_batch_size
    progress = _progress(quiet)
    say = (lambda m: progress.console.print(f"[yellow]skipped:[/] {m}", highlight=False)) if progress else warn
    task = progress.add_task("score", sentences=0, rate=0.0) if progress else None
    on_window = (lambda st: progress.update(task, completed=st.articles, sentences=st.sentences, rate=st.rate)) \
        if progress else None
    if progress:
        progress.start()
    try:
        stats = run_batch_scoring(
            request.inputs, request.output, request.summary,
            Scorer.of(classifier, batch),
            segment_config, boilerplate, InputConfig(segment_config.max_article_bytes, request.sentences,
                                                     request.stdin_format),
            config, overwrite=request.overwrite, report=say, on_window=on_window,
            exclude=[request.html] if request.html else [], model=request.model)
    finally:
        if progress:
            progress.stop()
    lines = []
    if request.html:
        articles = write_html_report(request.html, Table(request.summary, SUMMARY_COLUMNS).rows(),
                                     Table(request.output, SENTENCE_COLUMNS).rows())
        lines.append(f"score: HTML report of {articles} articles -> {request.html}")
    resumed = f" ({stats.already_done} already in the output)" if stats.already_done else ""
    resumed += f" ({stats.rescored} changed since, scored again)" if stats.rescored else ""
    written = [str(p) for p in (request.output, request.summary) if Path(p).exists()]
    lines.append(f"score: {stats.articles} articles, {stats.sentences:,} sentences{resumed}, "
                 f"{len(stats.skipped)} inputs skipped, {stats.seconds:.1f} s ({stats.rate:.0f} sentences/s)"
                 + (f" -> {', '.join(written)}" if written else "; nothing written"))
    return "\n".join(lines), stats.skipped


def _progress(quiet: bool):
    """A progress display on stderr when it is a terminal; otherwise None."""
    import sys

    if quiet or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.completed} articles, {task.fields[sentences]:,} sentences, "
                                                "{task.fields[rate]:.0f} sentences/s"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)
