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
    """Grouped cross-validation of the model and the baselines: metrics/crossval.json."""
    from pipeline.evaluate import cross_validate
    from pipeline.io import read_jsonl, write_json
    from pipeline.split import weak_only_articles

    params = params_or_fail(params_path)
    records = list(read_jsonl(paths.LABELED))
    extra = weak_only_articles(records) if params.train.use_weak_labels else []
    result = cross_validate(params.train, params.evaluate, params.split, records, extra)
    write_json(paths.CROSSVAL_METRICS, result)
    typer.echo("crossval: macro-F1 " + ", ".join(
        f"{name} {result[name]['macro_f1_mean']:.3f}±{result[name]['macro_f1_std']:.3f}"
        for name in ("model", "tfidf_lr", "weak", "majority")), err=True)


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
    from pipeline.train import save_model, train_classifier

    params = params_or_fail(params_path)
    cfg = params.train
    records, splits = _load_records()
    train_rows = training_records(records, splits, cfg.use_weak_labels)
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
    from pipeline.classifier import StanceClassifier
    from pipeline.evaluate import confusion_rows, evaluate_systems, save_confusion_png
    from pipeline.io import write_json
    from pipeline.labels import LABELS
    from pipeline.split import records_in, training_records

    params = params_or_fail(params_path)
    records, splits = _load_records()
    test = [r for r in records_in("test", records, splits) if r["label_source"] == "gold"]
    train_rows = training_records(records, splits, params.train.use_weak_labels)
    classifier = StanceClassifier.load(paths.MODEL_DIR, max_length=params.train.max_length)
    predicted = [p.label for p in classifier.predict([r["text"] for r in test], params.evaluate.batch_size)]
    scores = evaluate_systems(lambda texts: predicted, train_rows, test, params.split.seed)
    cv = json.loads(paths.CROSSVAL_METRICS.read_text())
    metrics = {
        "test": {name: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"],
                        **{f"f1_{lab}": s["per_class"][lab]["f1"] for lab in LABELS}} for name, s in scores.items()},
        "test_sentences": len(test),
        "cv": {name: cv[name] for name in scores},
    }
    write_json(paths.EVALUATE_METRICS, metrics)
    write_json(paths.CONFUSION, confusion_rows(test, predicted))
    write_json(paths.PER_CLASS_F1, [{"class": lab, "f1": scores["model"]["per_class"][lab]["f1"]} for lab in LABELS])
    model_scores = scores["model"]
    save_confusion_png(model_scores["confusion"], paths.CONFUSION_PNG,
                       f"model on held-out articles (macro-F1 {model_scores['macro_f1']:.2f})")

    card = json.loads((paths.MODEL_DIR / "card.json").read_text())
    tracking.setup_mlflow(params.mlflow.experiment)
    with mlflow.start_run(run_id=card["mlflow_run_id"]):
        mlflow.log_metrics(tracking.flatten({"test": metrics["test"], "cv": metrics["cv"]}))
        for path in (paths.EVALUATE_METRICS, paths.CROSSVAL_METRICS, paths.CONFUSION_PNG, paths.PER_CLASS_F1):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        if params.mlflow.log_model:
            version = tracking.log_and_register_model(paths.MODEL_DIR, params.mlflow)
            typer.echo(f"evaluate: registered {params.mlflow.registered_model} version {version} "
                       f"as @{params.mlflow.alias}", err=True)
    typer.echo(f"evaluate: test macro-F1 " + ", ".join(f"{n} {s['macro_f1']:.3f}" for n, s in scores.items()), err=True)


if __name__ == "__main__":
    app()
