"""The I/O around the `score` stage: inputs in, sentence and summary tables out, resumable.

Protocol that makes an interrupted run safe to repeat: for every window, the sentence
rows are written and committed first, then the summaries of the articles the window
finished. An article counts as done only once its summary is committed, so on the next
run the summary table says what is done; sentence rows of unfinished articles (and any
torn line) are dropped, and those articles are scored again. No half record, no duplicate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import SegmentConfig
from pipeline.inputs import Document, InputConfig, read_documents
from pipeline.score import SENTENCE_COLUMNS, SUMMARY_COLUMNS, ScoreConfig, score_documents
from pipeline.tables import Table, remove_table


@dataclass
class RunStats:
    articles: int = 0
    sentences: int = 0
    already_done: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0


def summary_path_for(output: Path) -> Path:
    """scores.jsonl -> scores.articles.jsonl"""
    return output.with_name(f"{output.stem}.articles{output.suffix}")


def _fresh(documents: Iterable[Document], done: set[str], stats: RunStats, report) -> Iterator[Document]:
    """Documents not yet in the output, each article id once."""
    seen: dict[str, str] = {}
    for doc in documents:
        if doc.article_id in done:
            stats.already_done += 1
        elif doc.article_id in seen:
            report(f"{doc.source}: duplicate article id {doc.article_id!r} (also {seen[doc.article_id]})")
        else:
            seen[doc.article_id] = doc.source
            yield doc


def run_batch_scoring(inputs: list[str], output: Path, summary_path: Path, predict_proba,
                      segment_config: SegmentConfig, boilerplate: list[re.Pattern], input_config: InputConfig,
                      score_config: ScoreConfig, overwrite: bool = False,
                      report: Callable[[str], None] = print,
                      on_window: Callable[[RunStats], None] | None = None, stdin=None,
                      exclude: Iterable[Path] = ()) -> RunStats:
    stats = RunStats()
    sentences, summaries = Table(output, SENTENCE_COLUMNS), Table(summary_path, SUMMARY_COLUMNS)
    if overwrite:
        remove_table(output)
        remove_table(summary_path)
    done = {str(row["article_id"]) for row in summaries.rows()}
    summaries.keep_only("article_id", done)
    sentences.keep_only("article_id", done)

    def skip(problem: str) -> None:
        stats.skipped.append(problem)
        report(problem)

    started = time.perf_counter()
    documents = _fresh(read_documents(inputs, input_config, skip, stdin, [output, summary_path, *exclude]), done, stats, skip)
    try:
        for window in score_documents(score_config, documents, predict_proba, segment_config, boilerplate):
            sentences.write(window.rows)
            sentences.commit()
            summaries.write(window.finished)
            summaries.commit()
            stats.sentences += len(window.rows)
            stats.articles += len(window.finished)
            stats.seconds = time.perf_counter() - started
            if on_window:
                on_window(stats)
    finally:
        sentences.close()
        summaries.close()
    stats.seconds = time.perf_counter() - started
    return stats
