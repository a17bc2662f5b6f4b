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
    from pipeline.io import read_articles, write_json, write_jsonl
    from pipeline.segment import segment_articles

    params = params_or_fail(params_path)
    cfg = params.segment
    boilerplate = boilerplate_patterns(params)
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


def _load_records() -> tuple[list[dict], list[dict]]:
    from pipeline.io import read_jsonl

    return list(read_jsonl(paths.LABELED)), list(read_jsonl(paths.SPLITS))


@app.command()
def split(params_path: Path = ParamsOption) -> None:
    """Hold out whole gold-labelled articles as the test split: data/splits.jsonl."""
    from collections import Counter

    from pipeline.io import read_jsonl, write_jsonl
    from pipeline.split import split_articles

    params = params_or_fail(params_path)
    try:
        rows = split_articles(params.split, list(read_jsonl(paths.LABELED)))
    except ValueError as err:
        fail(f"{params_path}: {err}")
    write_jsonl(paths.SPLITS, rows)
    test = sorted({r["article_id"] for r in rows if r["split"] == "test"})
    typer.echo(f"split: {dict(Counter(r['split'] for r in rows))}; test articles: {', '.join(test)}", err=True)


@app.command()
def crossval(params_path: Path = ParamsOption) -> None:
    """Leave-one-seed-article-out CV of the shipped recipe, the seed-only reference model and
    the baselines: metrics/crossval.json, and every system's out-of-fold label of each gold
    sentence: metrics/crossval_predictions.jsonl."""
    from pipeline.evaluate import cross_validate
    from pipeline.io import read_jsonl, write_json, write_jsonl
    from pipeline.split import weak_only_articles
    from pipeline.train import seed_only

    params = params_or_fail(params_path)
    cfg = params.train
    records = list(read_jsonl(paths.LABELED))
    extra = weak_only_articles(records) if cfg.use_weak_labels else []
    recipes = {"shipped": cfg,  # what `train` trains, retrained per held-out seed article
               "seed_only": seed_only(cfg, params.evaluate.seed_only_epochs, params.evaluate.seed_only_learning_rate)}
    authored = _authored(params) if cfg.use_authored else []
    result, predictions = cross_validate(recipes, params.evaluate, params.split, records, extra, authored,
                                         reference="seed_only")
    write_json(paths.CROSSVAL_METRICS, result)
    write_jsonl(paths.CROSSVAL_PREDICTIONS, predictions)
    gap = result["shipped_minus_seed_only"]
    typer.echo("crossval: macro-F1 mean over folds / pooled: " + ", ".join(
        f"{name} {m['macro_f1_mean']:.3f}±{m['macro_f1_std']:.3f} / {m['macro_f1_pooled']:.3f}"
        for name in ("shipped", "seed_only", "tfidf_lr", "weak", "majority") for m in [result[name]])
        + f"; shipped minus seed-only, pooled: {gap['macro_f1_pooled']:+.3f} "
        f"(95% interval {gap['ci95_low']:+.3f} to {gap['ci95_high']:+.3f})", err=True)


def _authored(params: Params) -> list[dict]:
    from pipeline.corpus import load_authored

    try:
        return load_authored(params.corpus.path)
    except InputError as err:
        fail(str(err))


@app.command()
def corpus(params_path: Path = ParamsOption) -> None:
    """Validate the authored corpus and report its diversity: metrics/corpus.json."""
    from pipeline.corpus import check_diversity, diversity_report
    from pipeline.io import read_jsonl, write_json

    params = params_or_fail(params_path)
    authored = _authored(params)
    seed_texts = [r["text"] for r in read_jsonl(paths.LABELED) if r["label_source"] == "gold"]
    report = diversity_report(params.corpus, authored, seed_texts)
    write_json(paths.CORPUS_METRICS, report)
    problems = check_diversity(params.corpus, report)
    if problems:
        fail(f"{params.corpus.path}: " + "; ".join(problems))
    typer.echo(f"corpus: {report['sentences']} sentences, {report['disputes']} disputes, "
               f"{report['near_duplicates']} near-duplicates", err=True)


@app.command()
def generalize(params_path: Path = ParamsOption) -> None:
    """Out-of-dispute evaluation: authored-only model on the seed gold, and leave-disputes-out
    CV over the authored corpus: metrics/generalization.json."""
    from pipeline.evaluate import generalisation
    from pipeline.io import read_jsonl, write_json
    from pipeline.weak import load_rules, weak_label

    params = params_or_fail(params_path)
    authored = _authored(params)
    weak = weak_label(load_rules(params.label.rules_path), [r["text"] for r in authored], params.label.label_model)
    authored = [{**r, "weak_label": w} for r, w in zip(authored, weak.labels)]
    seed_gold = [r for r in read_jsonl(paths.LABELED) if r["label_source"] == "gold"]
    result = generalisation(params.train, params.evaluate, seed_gold, authored, seed=params.split.seed)
    write_json(paths.GENERALIZATION_METRICS, result)
    lodo = result["leave_disputes_out"]
    typer.echo("generalize: seed gold by authored-only model, macro-F1 "
               f"{result['seed_gold']['model']['macro_f1']:.3f}; leave-disputes-out macro-F1 "
               + ", ".join(f"{n} {lodo[n]['macro_f1_mean']:.3f}" for n in ("model", "seed_only", "tfidf_lr", "weak")),
               err=True)


@app.command()
def train(params_path: Path = ParamsOption) -> None:
    """Fine-tune the base model on the train split: models/stance/, one MLflow run."""
    import shutil
    import tempfile

    import mlflow

    from pipeline import tracking
    from pipeline.io import file_md5
    from pipeline.split import records_in, training_records
    from pipeline.labels import LABELS
    from pipeline.train import save_model, train_classifier, training_set

    params = params_or_fail(params_path)
    cfg = params.train
    records, splits = _load_records()
    train_rows = training_set(cfg, training_records(records, splits, cfg.use_weak_labels),
                              _authored(params) if cfg.use_authored else [])
    valid_rows = [r for r in records_in("test", records, splits) if r["label_source"] == "gold"]
    root = tracking.repo_root()
    tracking.setup_mlflow(params.mlflow.experiment, root)
    with mlflow.start_run() as run:
        mlflow.log_params(tracking.flatten(params.model_dump(mode="json")))
        mlflow.set_tags({"git_commit": tracking.git_commit(root), **tracking.dvc_lock_hashes(root),
                         "stage": "train+evaluate"})
        result = train_classifier(cfg, train_rows, valid_rows,
                                  on_epoch=lambda epoch, m: mlflow.log_metrics(m, step=epoch))
        rate = result.train_sentences * cfg.epochs / max(result.train_seconds, 1e-9)
        mlflow.log_metrics({"train_seconds": result.train_seconds, "train_sentences_per_second": rate,
                            "train_sentences": result.train_sentences})
        card = {
            "base_model": cfg.base_model, "labels": list(LABELS),
            "data": {"labeled_md5": file_md5(paths.LABELED), "splits_md5": file_md5(paths.SPLITS),
                     "authored_md5": file_md5(params.corpus.path) if cfg.use_authored else None,
                     "train_sentences": len(train_rows), "valid_sentences": len(valid_rows)},
            "params": cfg.model_dump(mode="json"),
            "metrics": {"final_epoch": result.history[-1] if result.history else {},
                        "train_seconds": round(result.train_seconds, 2)},
            "mlflow_run_id": run.info.run_id,
        }
        staging = Path(tempfile.mkdtemp(dir=paths.MODELS.mkdir(exist_ok=True) or paths.MODELS, prefix=".stance-"))
        save_model(result, staging, card)
        shutil.rmtree(paths.MODEL_DIR, ignore_errors=True)
        staging.rename(paths.MODEL_DIR)
    typer.echo(f"train: {len(train_rows)} sentences, {cfg.epochs} epochs, {result.train_seconds:.0f} s; "
               f"MLflow run {run.info.run_id}", err=True)


@app.command()
def evaluate(params_path: Path = ParamsOption) -> None:
    """Score the model and baselines on the test split; log and register the model in MLflow."""
    import json

    import mlflow

    from pipeline import tracking
    from pipeline.augment import name_pools, with_dispute
    from pipeline.classifier import StanceClassifier
    from pipeline.evaluate import confusion_rows, evaluation_metrics, name_swap_consistency, save_confusion_png
    from pipeline.io import write_json
    from pipeline.labels import LABELS
    from pipeline.split import records_in, training_records

    params = params_or_fail(params_path)
    records, splits = _load_records()
    test = [r for r in records_in("test", records, splits) if r["label_source"] == "gold"]
    classifier = StanceClassifier.load(paths.MODEL_DIR, max_length=params.train.max_length)
    predict = lambda texts: [p.label for p in classifier.predict(texts, params.evaluate.batch_size)]  # noqa: E731
    predicted = predict([r["text"] for r in test])
    pools = name_pools(with_dispute(records + _authored(params)))
    # baselines train on the seed train split: the real-news sentences the model also saw
    metrics, scores = evaluation_metrics(
        predicted, training_records(records, splits, params.train.use_weak_labels), test,
        json.loads(paths.CROSSVAL_METRICS.read_text()), name_swap_consistency(predict, test, pools, params.split.seed),
        params.split.seed)
    write_json(paths.EVALUATE_METRICS, metrics)
    write_json(paths.CONFUSION, confusion_rows(test, predicted))
    write_json(paths.PER_CLASS_F1, [{"class": lab, "f1": scores["model"]["per_class"][lab]["f1"]} for lab in LABELS])
    model_scores = scores["model"]
    save_confusion_png(model_scores["confusion"], paths.CONFUSION_PNG,
                       f"model on held-out articles (macro-F1 {model_scores['macro_f1']:.2f})")

    card = json.loads((paths.MODEL_DIR / "card.json").read_text())
    tracking.setup_mlflow(params.mlflow.experiment)
    with mlflow.start_run(run_id=card["mlflow_run_id"]):
        generalization = json.loads(paths.GENERALIZATION_METRICS.read_text())
        numeric = {k: v for k, v in tracking.flatten({**metrics, "generalization": generalization}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        mlflow.log_metrics(numeric)
        for path in (paths.EVALUATE_METRICS, paths.CROSSVAL_METRICS, paths.GENERALIZATION_METRICS,
                     paths.CORPUS_METRICS, paths.CONFUSION_PNG, paths.PER_CLASS_F1):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        if params.mlflow.log_model:
            version = tracking.log_and_register_model(paths.MODEL_DIR, params.mlflow)
            typer.echo(f"evaluate: registered {params.mlflow.registered_model} version {version} "
                       f"as @{params.mlflow.alias}", err=True)
    typer.echo(f"evaluate: test macro-F1 " + ", ".join(f"{n} {s['macro_f1']:.3f}" for n, s in scores.items()), err=True)


@app.command()
def audit(output: Path = typer.Option(Path("reports/label_issues.csv"), "-o", "--output"),
          params_path: Path = ParamsOption) -> None:
    """Rank likely mislabels in the gold and authored labels (cleanlab, out-of-fold)."""
    import csv

    from pipeline.audit import find_label_issues
    from pipeline.io import atomic_write, read_jsonl

    params = params_or_fail(params_path)
    records = [r for r in read_jsonl(paths.LABELED) if r["label_source"] == "gold"] + _authored(params)
    issues = find_label_issues(records, params.train.base_model, seed=params.split.seed)

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=["rank", "source", "id", "given", "suggested", "given_prob", "text"])
        writer.writeheader()
        writer.writerows(issues)

    atomic_write(output, write)
    typer.echo(f"audit: {len(issues)} likely label issues among {len(records)} labels -> {output}", err=True)


EXIT_SKIPPED = 3  # `stance score`: finished, but some inputs were skipped (each reported on stderr)


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


@app.command()
def score(
    inputs: list[str] = typer.Argument(..., help="files, folders (recursive), globs, or - for standard input"),
    output: Path = typer.Option(..., "-o", "--output", help="sentence table: .jsonl, .csv or .parquet"),
    summary: Path | None = typer.Option(None, "--summary", help="per-article table [default: OUTPUT with .articles before the suffix]"),
    html: Path | None = typer.Option(None, "--html", help="also write a self-contained HTML report"),
    model: str | None = typer.Option(None, "--model", help="model folder or MLflow URI (models:/stance-classifier@champion) "
                                     "[default: models/stance, or models/stance-onnx for the onnx backends]"),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx (int8) | onnx-fp32"),
    sentences: bool = typer.Option(False, "--sentences", help="JSONL records are pre-split sentences, not articles"),
    stdin_format: str = typer.Option("txt", "--stdin-format", help="format of - : txt | html | jsonl"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="[default: 32 on CPU, 256 on GPU]"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (torch backend)"),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads; 0 = the cores this process may use"),
    workers: int | None = typer.Option(None, "--workers", min=0, help="processes that segment articles while the model "
                                       "runs [default: on a GPU, the cores but one (at most 16); on CPU, 0]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start afresh instead of resuming into OUTPUT"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar, no final line"),
    params_path: Path = ParamsOption,
) -> None:
    """Score new articles: the stance of every sentence, and a summary of every article.

    Re-running the same command resumes: articles already in OUTPUT are skipped.
    Exit codes: 0 every input scored; 3 some inputs skipped (each reported on stderr);
    2 bad options, params or model (nothing scored)."""
    import tempfile

    from pipeline.batch_scoring import run_batch_scoring, summary_path_for
    from pipeline.classifier import StanceClassifier
    from pipeline.inputs import InputConfig
    from pipeline.report import write_html_report
    from pipeline.score import SENTENCE_COLUMNS, SUMMARY_COLUMNS, ScoreConfig
    from pipeline.tables import Table, table_format

    if backend not in ("torch", "onnx", "onnx-fp32"):
        fail(f"--backend: {backend!r} is not one of torch, onnx, onnx-fp32")
    if stdin_format not in ("txt", "html", "jsonl"):
        fail(f"--stdin-format: {stdin_format!r} is not one of txt, html, jsonl")
    summary = summary or summary_path_for(output)
    try:
        table_format(output), table_format(summary)
    except ValueError as err:
        fail(str(err))
    params = params_or_fail(params_path)
    boilerplate = boilerplate_patterns(params)
    model = model or str(paths.MODEL_DIR if backend == "torch" else paths.ONNX_DIR)
    with tempfile.TemporaryDirectory(prefix="stance-score-") as scratch:
        try:
            from pipeline.tracking import resolve_model

            classifier = StanceClassifier.load(resolve_model(model, Path(scratch)), device=device, backend=backend,
                                               max_length=params.train.max_length, threads=threads)
        except Exception as err:  # a missing folder, a bad URI, no ONNX export: one line, nothing scored
            fail(f"--model {model}: cannot load ({str(err).splitlines()[0] if str(err) else type(err).__name__})")
        score_config = ScoreConfig(batch_size=batch_size, workers=default_workers(classifier) if workers is None else workers)
        batch = score_config.batch_size or classifier.default_batch_size
        progress = _progress(quiet)
        say = (lambda m: progress.console.print(f"[yellow]skipped:[/] {m}", highlight=False)) if progress else warn
        task = progress.add_task("score", sentences=0, rate=0.0) if progress else None
        on_window = (lambda st: progress.update(task, completed=st.articles, sentences=st.sentences, rate=st.rate)) \
            if progress else None
        if progress:
            progress.start()
        try:
            stats = run_batch_scoring(
                inputs, output, summary, lambda texts: classifier.predict_proba(texts, batch),
                params.segment, boilerplate,
                InputConfig(params.segment.max_article_bytes, sentences, stdin_format), score_config,
                overwrite=overwrite, report=say, on_window=on_window, exclude=[html] if html else [])
        finally:
            if progress:
                progress.stop()
    if html:
        articles = write_html_report(html, Table(summary, SUMMARY_COLUMNS).rows(), Table(output, SENTENCE_COLUMNS).rows())
        if not quiet:
            typer.echo(f"score: HTML report of {articles} articles -> {html}", err=True)
    if not quiet:
        resumed = f" ({stats.already_done} already in the output)" if stats.already_done else ""
        typer.echo(f"score: {stats.articles} articles, {stats.sentences:,} sentences{resumed}, "
                   f"{len(stats.skipped)} inputs skipped, {stats.seconds:.1f} s ({stats.rate:.0f} sentences/s) "
                   f"-> {output}, {summary}", err=True)
    if stats.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def default_workers(classifier) -> int:
    """On a GPU, segmentation is the bottleneck: give it the cores the model does not need
    (H100, 16 cores: 15 workers 4,860 sentences/s, 8 workers 3,290). On a CPU the model wants
    every core: a worker gained nothing on 2 cores (docs/benchmarks.md)."""
    from pipeline.classifier import cpu_count

    return min(16, cpu_count() - 1) if classifier.on_gpu else 0


def boilerplate_patterns(params: Params) -> list:
    """The drop-line regexes of segment.boilerplate_path (shared by `segment`, `score` and the
    benchmarks); a malformed file is a one-line error."""
    import yaml

    from pipeline.segment import compile_boilerplate

    path = params.segment.boilerplate_path
    try:
        return compile_boilerplate(yaml.safe_load(path.read_text(encoding="utf-8"))["drop_lines"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        fail(f"{path}: expected a 'drop_lines' list of regexes ({type(err).__name__})")


@app.command()
def export(model: Path = typer.Option(paths.MODEL_DIR, "--model", help="the trained (safetensors) model folder"),
           output: Path = typer.Option(paths.ONNX_DIR, "-o", "--output", help="folder for the ONNX model")) -> None:
    """Export the model to ONNX (fp32 and int8) for `stance score --backend onnx`."""
    from pipeline.export import export_onnx

    if not (model / "model.safetensors").exists():
        fail(f"{model}: no model.safetensors here (train one with `dvc repro`)")
    sizes = export_onnx(model, output)
    typer.echo("export: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()) + f" -> {output}",
               err=True)


review_app = typer.Typer(no_args_is_help=True, help="Review loop: export sentences to label, import the labels.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    output: Path = typer.Option(..., "-o", "--output", help="CSV to write (opens in a spreadsheet)"),
    limit: int = typer.Option(200, "--limit", "-n", min=1, help="how many sentences"),
    model: Path = typer.Option(paths.MODEL_DIR, "--model", help="model folder"),
    label_studio: Path | None = typer.Option(None, "--label-studio", help="also write Label Studio JSON tasks"),
) -> None:
    """Pick the unlabelled sentences most worth reviewing (model vs weak-labeler
    disagreement, then low confidence), with the model's suggestion filled in."""
    from pipeline.classifier import StanceClassifier
    from pipeline.io import read_jsonl, write_json
    from pipeline.review import label_studio_tasks, select_for_review, write_review_csv

    records = [r for r in read_jsonl(paths.LABELED) if r["label_source"] != "gold"]
    if not records:
        fail(f"{paths.LABELED}: every sentence already has a gold label; add articles to seeds/articles/ first")
    probs = StanceClassifier.load(model).predict_proba([r["text"] for r in records])
    rows = select_for_review(records, probs, limit)
    write_review_csv(output, rows)
    if label_studio:
        write_json(label_studio, label_studio_tasks(rows))
    typer.echo(f"review export: {len(rows)} sentences -> {output}; fill the 'label' column, then "
               f"`stance review import {output}`", err=True)


@review_app.command("import")
def review_import(reviewed: Path = typer.Argument(..., help="the reviewed CSV"),
                  params_path: Path = ParamsOption) -> None:
    """Validate a reviewed CSV and merge its labels into the gold file (seeds/gold_labels.jsonl)."""
    from pipeline.io import read_jsonl, write_jsonl
    from pipeline.review import merge_review, read_review_csv

    params = params_or_fail(params_path)
    gold_path = params.label.gold_path
    try:
        rows = read_review_csv(reviewed)
        sentences = {r["sentence_id"]: r for r in read_jsonl(paths.SENTENCES)}
        gold = list(read_jsonl(gold_path)) if gold_path.exists() else []
        merged, changed = merge_review(rows, sentences, gold, str(reviewed))
    except InputError as err:
        fail(str(err))
    write_jsonl(gold_path, merged)
    typer.echo(f"review import: {changed} labels merged into {gold_path}; run `dvc repro` to retrain", err=True)


if __name__ == "__main__":
    app()
