"""The `stance` command line: thin wrappers that do the I/O around the stage functions.
dvc.yaml calls these; every path comes from pipeline.paths."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline import paths
from pipeline.config import ConfigError, Params, load_params
from pipeline.io import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

ParamsOption = typer.Option(paths.PARAMS, "--params", help="the params file")


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def params_or_fail(path: Path) -> Params:
    try:
        return load_params(path)
    except ConfigError as err:
        fail(str(err))


def warn(message: str) -> None:
    typer.secho(f"skipped: {message}", err=True, fg="yellow")


@app.command()
def segment(params_path: Path = ParamsOption) -> None:
    """Split the articles in segment.articles_dir into data/sentences.jsonl."""
    import yaml

    from pipeline.io import read_articles, write_json, write_jsonl
    from pipeline.segment import compile_boilerplate, segment_articles

    params = params_or_fail(params_path)
    cfg = params.segment
    try:
        rules = yaml.safe_load(cfg.boilerplate_path.read_text(encoding="utf-8"))["drop_lines"]
        boilerplate = compile_boilerplate(rules)
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        fail(f"{cfg.boilerplate_path}: expected a 'drop_lines' list of regexes ({type(err).__name__})")
    articles, problems = read_articles(cfg.articles_dir, cfg.max_article_bytes)
    for problem in problems:
        warn(problem)
    if not articles:
        fail(f"{cfg.articles_dir}: no readable articles")
    sentences = segment_articles(cfg, articles, boilerplate)
    write_jsonl(paths.SENTENCES, (s.__dict__ for s in sentences))
    write_json(paths.SEGMENT_REPORT, {"articles": len(articles), "sentences": len(sentences), "skipped": problems})
    typer.echo(f"segment: {len(articles)} articles -> {len(sentences)} sentences ({len(problems)} skipped)", err=True)


@app.command()
def label(params_path: Path = ParamsOption) -> None:
    """Label data/sentences.jsonl (gold first, weak labels elsewhere) into data/labeled.jsonl."""
    from pipeline.gold import load_gold, match_gold
    from pipeline.io import read_jsonl, write_json, write_jsonl
    from pipeline.label import label_sentences
    from pipeline.segment import Sentence
    from pipeline.weak import load_rules

    params = params_or_fail(params_path)
    cfg = params.label
    try:
        rules = load_rules(cfg.rules_path)
        sentences = [Sentence(**r) for r in read_jsonl(paths.SENTENCES)]
        gold = match_gold(load_gold(cfg.gold_path), sentences, str(cfg.gold_path))
    except (ConfigError, InputError) as err:
        fail(str(err))
    records, metrics, rule_metrics = label_sentences(cfg, sentences, gold, rules)
    write_jsonl(paths.LABELED, records)
    write_json(paths.LABEL_METRICS, metrics)
    write_json(paths.RULE_METRICS, rule_metrics)
    wg = metrics["weak_vs_gold"]
    typer.echo(f"label: {len(records)} sentences, {metrics['source_counts']}; weak labeler on gold: "
               f"coverage {wg.get('coverage')}, accuracy {wg.get('accuracy')}", err=True)


if __name__ == "__main__":
    app()
