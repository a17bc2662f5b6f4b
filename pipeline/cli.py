"""The `stance` command line: parses options, calls one function, prints its summary line.
Pipeline stages (dvc.yaml, research/dvc.yaml) are `stance STAGE`, each the `run` of
pipeline/STAGE.py; `score`, `eval-set`, `review` and `audit` are the user's tools."""

from __future__ import annotations

import importlib.metadata
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer

from pipeline import paths
from pipeline.config import ConfigError, Params, load_params
from pipeline.io import InputError


class _Argument(typer.core.TyperArgument):
    """Prints as its metavar alone (`INPUT...`), as options do, not typer's `{INPUT}...` and `<list[str]>`."""

    def get_usage_pieces(self, ctx) -> list[str]:
        return [self.metavar] if self.metavar else super().get_usage_pieces(ctx)

    def display_type_rich(self, ctx) -> str | None:
        return None if self.metavar else super().display_type_rich(ctx)


typer.main.TyperArgument = _Argument  # the class typer.main builds every command argument with
# rich_markup_mode=None: help texts are plain, so "[default: ...]" and the like print as written
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)
ParamsOption = typer.Option(paths.PARAMS, "--params", metavar="FILE", help="the params file (from another folder: the project's)")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stance {importlib.metadata.version('stance')}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit")) -> None:
    """Sentence stance (accusation / denial / neutral) in news articles."""


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def note(message: str) -> None:  # a stage's line beside its summary: a skipped input, research progress
    typer.secho(message, err=True, fg="yellow" if message.startswith("skipped:") else None)


def params_or_fail(path: Path) -> Params:
    try:
        return load_params(paths.in_project(path))
    except ConfigError as err:
        fail(str(err))


def _stage(name: str, doc: str) -> None:
    """`stance <name>`: the `run` of pipeline/<name>.py with the validated params."""

    def command(params_path: Path = ParamsOption) -> None:
        params = params_or_fail(params_path)  # a bad params file fails before any work starts
        stage: Callable = importlib.import_module(f"pipeline.{name}").run
        try:
            typer.echo(stage(params, note), err=True)
        except (ConfigError, InputError, FileNotFoundError) as err:
            fail(str(err))

    command.__doc__ = doc
    app.command(name)(command)


for _name, _doc in [
    ("segment", "Split the articles in segment.articles_dir into data/sentences.jsonl."),
    ("label", "Label data/sentences.jsonl (gold first, weak labels elsewhere): data/labeled.jsonl."),
    ("corpus", "Check the authored corpus and report what it is: metrics/corpus.json."),
    ("split", "Hold out whole gold-labelled articles as the test split: data/splits.jsonl."),
    ("train", "Fine-tune the model: models/stance/ and one MLflow run."),
    ("evaluate", "Score the model and baselines on the test split: metrics/evaluate.json, plots/."),
    ("register", "Log models/stance in its MLflow run and register it (@champion)."),
    ("crossval", "Research: the shipped recipe vs the seed-only model, leave one seed article out."),
    ("generalize", "Research: out-of-dispute figures (authored-only model on the seed gold, leave-disputes-out)."),
]:
    _stage(_name, _doc)


@app.command()
def export(model: Path = typer.Option(paths.MODEL_DIR, "--model", metavar="FOLDER", help="the trained (safetensors) model folder"),
           output: Path = typer.Option(paths.ONNX_DIR, "-o", "--output", metavar="FOLDER", help="folder for the ONNX model")) -> None:
    """Export a model to ONNX (fp32 and int8) for `stance score --backend onnx`."""
    from pipeline.export import run

    try:
        typer.echo(run(model, output), err=True)
    except InputError as err:
        fail(str(err))


@app.command("eval-set")
def eval_set(
    path: Path = typer.Argument(..., metavar="FILE", help="labelled sentences: .jsonl or .csv with text, label "
                                "(optional: id, confidence, domain or group, article)"),
    model: str | None = typer.Option(None, "--model", metavar="FOLDER|URI", help="model folder or MLflow URI [default: models/stance]"),
    backend: str = typer.Option("torch", "--backend", metavar="NAME", help="torch | onnx (int8) | onnx-fp32"),
    output: Path | None = typer.Option(None, "-o", "--output", metavar="FILE", help="write the full report as JSON"),
    errors: Path | None = typer.Option(None, "--errors", metavar="FILE", help="write every error as CSV"),
    mlflow: bool = typer.Option(False, "--mlflow", help="also log the figures to the MLflow run that trained the model"),
    prefix: str = typer.Option("evalset", "--prefix", metavar="NAME", help="metric name prefix in MLflow"),
) -> None:
    """Score a labelled set with a model: macro-F1 (all, sure, per group), per class, confusion, errors."""
    from pipeline import evalset
    from pipeline.tracking import load_model

    model = model or str(paths.default_model(backend))
    with tempfile.TemporaryDirectory(prefix="stance-eval-") as scratch:
        try:  # a model that cannot load (a missing folder, a bad URI, no ONNX export) or bad input: one line, exit 2
            folder, classifier = load_model(model, backend, Path(scratch))
            typer.echo(evalset.run(path, classifier, output, errors, folder if mlflow else None, prefix))
        except (ValueError, InputError) as err:
            fail(str(err))


@app.command()
def audit(output: Path = typer.Option(Path("reports/label_issues.csv"), "-o", "--output", metavar="FILE", help="the ranked CSV"),
          params_path: Path = ParamsOption) -> None:
    """Rank likely mislabels in the gold and authored labels (cleanlab, out-of-fold)."""
    from pipeline.audit import run

    typer.echo(run(params_or_fail(params_path), output), err=True)


@app.command()
def metrics() -> None:
    """The headline figures of the metrics files, one table that fits a terminal."""
    from pipeline.summary import print_table

    print_table(paths.in_project(paths.METRICS).parent)


EXIT_SKIPPED = 3  # `stance score`: finished, but some inputs were skipped (each reported on stderr)


@app.command()
def score(
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", help="files, folders (recursive), globs, or - for standard input"),
    output: str = typer.Option(..., "-o", "--output", metavar="FILE", help="sentence table: .jsonl, .csv or .parquet "
                               "(--engine spark: a Parquet dataset, any path Spark writes)"),
    summary: Path | None = typer.Option(None, "--summary", metavar="FILE", help="per-article table [default: OUTPUT with .articles before the suffix]"),
    html: Path | None = typer.Option(None, "--html", metavar="FILE", help="also write a self-contained HTML report"),
    model: str | None = typer.Option(None, "--model", metavar="FOLDER|URI", help="model folder or MLflow URI (models:/stance-classifier@champion) "
                                     "[default: models/stance, or models/stance-onnx for the onnx backends]"),
    backend: str | None = typer.Option(None, "--backend", metavar="NAME", help="torch | onnx (int8) | onnx-fp32 "
                                       "[default: torch; onnx with --engine spark]"),
    engine: str = typer.Option("local", "--engine", metavar="NAME", help="local | spark (README: Scoring on Spark)"),
    master: str | None = typer.Option(None, "--master", metavar="URL", help="--engine spark: the Spark master "
                                      "[default: spark-submit's, else local[*]]"),
    sentences: bool = typer.Option(False, "--sentences", help="JSONL records are pre-split sentences, not articles"),
    stdin_format: str = typer.Option("txt", "--stdin-format", metavar="FORMAT", help="format of - : txt | html | jsonl"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, metavar="N", help="sentences per model call [default: 32 on CPU, 256 on GPU]"),
    device: str = typer.Option("auto", "--device", metavar="NAME", help="auto | cpu | cuda (torch backend)"),
    threads: int = typer.Option(0, "--threads", min=0, metavar="N", help="CPU threads; 0 = the cores this process may use"),
    workers: int | None = typer.Option(None, "--workers", min=0, metavar="N", help="processes that segment and tokenise while the "
                                       "model runs [default: on a GPU, the cores but one (at most 16); on CPU, 0]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start afresh instead of resuming into OUTPUT"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar, no final line"),
    params_path: Path = ParamsOption,
) -> None:
    """Score new articles: the stance of every sentence, and a summary of every article.

    Re-running the same command resumes: articles already in OUTPUT with the same content are
    skipped, changed ones scored again; another model or backend into the same OUTPUT is refused.
    Exit codes: 0 every input scored; 3 some inputs skipped (each reported on stderr);
    2 bad options, params or model (nothing scored)."""
    from pipeline.segmentation import load_boilerplate

    if stdin_format not in ("txt", "html", "jsonl"):
        fail(f"--stdin-format: {stdin_format!r} is not one of txt, html, jsonl")
    if engine not in ("local", "spark"):
        fail(f"--engine: {engine!r} is not one of local, spark")
    backend = backend or ("onnx" if engine == "spark" else "torch")
    params_path = paths.in_project(params_path)
    warn = lambda message: note(f"skipped: {message}")  # noqa: E731
    try:  # every ValueError here is one line about the options, params, model or output
        params = load_params(params_path)
        boilerplate = load_boilerplate(paths.project_dir(params_path) / params.segment.boilerplate_path)
        model = model or str(paths.default_model(backend))
        if engine == "spark":
            from pipeline import spark_scoring

            local_only = [f for f, v in (("--summary", summary), ("--html", html), ("--workers", workers)) if v is not None]
            request = spark_scoring.SparkScoreRequest(inputs, output, model, backend, master, sentences, batch_size, overwrite)
            line, skipped = spark_scoring.score_command(request, params.segment, boilerplate, warn, local_only)
        else:
            from pipeline import batch_scoring

            request = batch_scoring.ScoreRequest(inputs, Path(output), summary, html, sentences, stdin_format,
                                                 batch_size, workers, overwrite)
            line, skipped = batch_scoring.score_command(request, model, backend, device, threads, params.segment,
                                                        boilerplate, quiet, warn)
    except (ValueError, ConfigError) as err:
        fail(str(err))
    if not quiet:
        typer.echo(line, err=True)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


review_app = typer.Typer(no_args_is_help=True, help="Review loop: export sentences to label, import the labels.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="CSV to write (opens in a spreadsheet)"),
    limit: int = typer.Option(200, "--limit", "-n", min=1, metavar="N", help="how many sentences"),
    model: Path = typer.Option(paths.MODEL_DIR, "--model", metavar="FOLDER", help="model folder"),
    label_studio: Path | None = typer.Option(None, "--label-studio", metavar="FILE", help="also write Label Studio JSON tasks"),
) -> None:
    """Pick the unlabelled sentences most worth reviewing (model vs weak-labeler
    disagreement, then low confidence), with the model's suggestion filled in."""
    from pipeline.review import export_for_review

    try:
        typer.echo(export_for_review(output, limit, model, label_studio), err=True)
    except InputError as err:
        fail(str(err))


@review_app.command("import")
def review_import(reviewed: Path = typer.Argument(..., metavar="FILE", help="the reviewed CSV, or a Label Studio JSON export"),
                  params_path: Path = ParamsOption) -> None:
    """Validate reviewed labels (CSV or Label Studio JSON) and merge them into the gold file."""
    from pipeline.review import import_review

    try:
        typer.echo(import_review(reviewed, params_or_fail(params_path).label.gold_path), err=True)
    except InputError as err:
        fail(str(err))


if __name__ == "__main__":
    app()
