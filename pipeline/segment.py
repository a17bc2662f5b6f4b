"""Stage `segment`: the articles under `segment.articles_dir` -> data/sentences.jsonl.

Articles are read as `stance score` reads them (pipeline/inputs.py: .txt, .html, .jsonl,
recursively; ids are paths relative to the folder, without suffix) and split by
pipeline/segmentation.py. Unreadable files are reported one line each and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from pipeline import paths
from pipeline.config import Params
from pipeline.inputs import InputConfig, read_documents
from pipeline.io import InputError, write_json, write_jsonl
from pipeline.segmentation import load_boilerplate, segment_article


def run(params: Params, report: Callable[[str], None]) -> str:
    cfg = params.segment
    boilerplate = load_boilerplate(cfg.boilerplate_path)
    problems: list[str] = []
    sentences, seen = [], {}
    for doc in read_documents([str(cfg.articles_dir)], InputConfig(cfg.max_article_bytes), problems.append):
        if doc.article_id in seen:
            problems.append(f"{doc.source}: duplicate article id {doc.article_id!r} (also {seen[doc.article_id]})")
            continue
        seen[doc.article_id] = doc.source
        sentences += [asdict(s) for s in (doc.sentences or segment_article(doc, cfg, boilerplate))]
    for problem in problems:
        report(f"skipped: {problem}")
    if not seen:
        raise InputError(f"{cfg.articles_dir}: no readable articles")
    write_jsonl(paths.SENTENCES, sentences)
    write_json(paths.SEGMENT_REPORT, {"articles": len(seen), "sentences": len(sentences), "skipped": problems})
    return f"segment: {len(seen)} articles -> {len(sentences)} sentences ({len(problems)} skipped)"
