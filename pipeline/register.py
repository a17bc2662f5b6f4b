"""Stage `register`: log models/stance as an MLflow pyfunc in the run that trained it and
register it as `mlflow.registered_model`, with `mlflow.alias` on the new version.

It depends on the model folder alone, so it runs only when the model's bytes changed: a
retrain that gives the same model registers nothing new. The run is found by the model's
hash, which `train` tagged it with (`model_md5`). Its output, models/registered.json
(DVC-tracked, git-ignored), says which model was registered under which name: not the
version number, which depends on the store, so the same model gives the same file. A fresh
clone has no such file (and an empty MLflow store), so `dvc repro` registers its model there
too; to register into another store, delete the file (or `dvc repro --force --single-item
register`).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline import paths, tracking
from pipeline.config import Params
from pipeline.io import InputError, write_json


def run(params: Params, report: Callable[[str], None]) -> str:
    config = params.mlflow
    model_md5 = tracking.folder_md5(paths.MODEL_DIR)
    tracking.setup_mlflow(config.experiment)
    run_id = tracking.run_with_tag("model_md5", model_md5)
    if run_id is None:
        raise InputError(f"{paths.MODEL_DIR}: no MLflow run in {tracking.tracking_uri()} trained this model "
                         f"(model_md5 {model_md5}); run `dvc repro --force train` to retrain it")
    if not config.log_model:
        write_json(paths.REGISTERED, {"model_md5": model_md5, "registered_model": None})
        return "register: mlflow.log_model is false, nothing registered"
    version = tracking.log_and_register_model(paths.MODEL_DIR, config, run_id)
    write_json(paths.REGISTERED, {"model_md5": model_md5, "registered_model": config.registered_model,
                                  "alias": config.alias})
    return f"register: {config.registered_model} version {version} as @{config.alias} (run {run_id})"
