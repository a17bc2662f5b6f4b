"""Stage `train`: fine-tune the shipped model -> models/stance/ and one MLflow run.

Training data (pipeline/training.py `training_set`): the gold sentences of the seed train
split and the authored corpus, less `train.valid_disputes` authored disputes drawn with the
seed. Those held-out disputes are the validation set: the per-epoch curves are drawn on
them (never on the test article) and, with `train.calibrate`, the temperature is fitted on
them.

The model folder is deterministic: card.json holds what inference needs (`max_length`,
`context`, `temperature`), the training params and the hashes of the inputs, and nothing
about when, where or in which MLflow run it was trained. That goes to the MLflow run (run
id, seconds, curves), tagged with the model's hash (`model_md5`) so that `evaluate` and
`register` find the run that made the bytes they read; no file under DVC or git changes
with it, so a fresh `dvc repro` leaves `git status` clean.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pipeline import paths, tracking
from pipeline.config import Params
from pipeline.io import file_md5
from pipeline.labels import LABELS
from pipeline.training import datasets, save_model, temperature_of, train_classifier


def run(params: Params, report: Callable[[str], None]) -> str:
    import mlflow

    cfg = params.train
    train_rows, valid, held_out = datasets(params)
    inputs = {str(p): file_md5(p) for p in (paths.LABELED, paths.SPLITS, *(params.corpus.paths if cfg.use_authored else []))}

    tracking.setup_mlflow(params.mlflow.experiment)
    with mlflow.start_run() as run_info:
        mlflow.log_params(tracking.flatten(params.model_dump(mode="json")))
        mlflow.set_tags({"git_commit": tracking.git_commit(tracking.repo_root()), "stage": "train",
                         **{f"input.{path}": md5 for path, md5 in inputs.items()}})
        result = train_classifier(cfg, train_rows, valid or None,
                                  on_epoch=lambda epoch, m: mlflow.log_metrics(m, step=epoch))
        temperature = temperature_of(cfg, result, valid)
        card = {"base_model": cfg.base_model, "labels": list(LABELS), "max_length": cfg.max_length,
                "context": cfg.context, "temperature": temperature, "train": cfg.model_dump(mode="json"),
                "inputs_md5": inputs, "train_sentences": len(train_rows),
                "valid_disputes": sorted(held_out), "valid_sentences": len(valid)}
        staging = Path(tempfile.mkdtemp(dir=paths.MODELS.mkdir(exist_ok=True) or paths.MODELS, prefix=".stance-"))
        save_model(result, staging, card)
        shutil.rmtree(paths.MODEL_DIR, ignore_errors=True)
        staging.rename(paths.MODEL_DIR)
        model_md5 = tracking.folder_md5(paths.MODEL_DIR)
        mlflow.set_tag("model_md5", model_md5)
        mlflow.log_metrics({"train_seconds": result.train_seconds, "train_sentences": len(train_rows),
                            "valid_sentences": len(valid), "temperature": temperature})
    return (f"train: {len(train_rows)} sentences, {cfg.epochs} epochs, {result.train_seconds:.0f} s, "
            f"temperature {temperature}; MLflow run {run_info.info.run_id}")
