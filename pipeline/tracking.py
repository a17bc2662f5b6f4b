"""MLflow tracking: where runs go, and what each run records.

One MLflow run per training: `train` opens it (params, per-epoch curves, tags with
the git commit and the dvc.lock data hashes) and stores its id in the model card;
`evaluate` re-opens the same run to add the final metrics, plots and the model,
registered as `stance-classifier` with the `champion` alias on the newest version.

The store is `sqlite:///<repo root>/mlflow.db` with artifacts in `<repo root>/mlruns`,
as absolute paths, so `dvc exp run --temp` (which runs in a copy under
.dvc/tmp/exps/) still lands in the repo's store. MLFLOW_TRACKING_URI overrides it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml


def repo_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder holding dvc.yaml, stepping out of a DVC
    experiment's temporary copy."""
    here = Path(start or Path.cwd()).resolve()
    parts = here.parts
    if ".dvc" in parts:  # .../repo/.dvc/tmp/exps/<tmp>/ -> .../repo
        here = Path(*parts[: parts.index(".dvc")])
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root(root) / 'mlflow.db'}"


def setup_mlflow(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the store and experiment; returns the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    artifacts = None
    if "MLFLOW_TRACKING_URI" not in os.environ:
        artifacts = (repo_root(root) / "mlruns").as_uri()
    exp_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def flatten(params: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_lock_hashes(root: Path) -> dict[str, str]:
    """md5 of every dependency and output recorded in dvc.lock, as `data.<path>` tags."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return {}
    tags = {}
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for entry in stage.get("deps", []) + stage.get("outs", []):
            if "md5" in entry and not entry["path"].startswith("pipeline/"):
                tags[f"data.{entry['path']}"] = entry["md5"]
    return tags


def log_and_register_model(model_dir: Path, config) -> str:
    """Log the model folder as a pyfunc (label + three probabilities) in the active run,
    register it, and point the alias at the new version. Returns the version."""
    import mlflow
    import pandas as pd
    import torch
    import transformers
    from mlflow.models import infer_signature

    from pipeline.labels import LABELS

    package = Path(__file__).resolve().parent
    example = pd.DataFrame({"text": ["The ministry rejected the allegations as baseless.",
                                     "Rights groups say hundreds were detained without charge."]})
    output = pd.DataFrame({"label": ["denial", "accusation"], **{lab: [0.1, 0.2] for lab in LABELS}})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(package / "pyfunc_model.py"),
        artifacts={"model_dir": str(Path(model_dir).resolve())},
        code_paths=[str(package)],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}",
                          f"mlflow=={mlflow.__version__}", "pandas", "numpy"],
        registered_model_name=config.registered_model,
    )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(config.registered_model, config.alias, version)
    return version


MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def resolve_model(spec: str, cache: Path | None = None) -> Path:
    """A model folder for `spec`: a local folder as given, or an MLflow model URI such as
    `models:/stance-classifier@champion`, downloaded from the project's store and reduced to
    the model folder inside its pyfunc (read with yaml.safe_load: nothing is unpickled)."""
    if not spec.startswith(MLFLOW_SCHEMES):
        return Path(spec)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import tempfile

    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    target = Path(tempfile.mkdtemp(prefix="stance-model-", dir=cache))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=spec, dst_path=str(target)))
    flavor = (yaml.safe_load((local / "MLmodel").read_text()) or {}).get("flavors", {}).get("python_function", {})
    folder = flavor.get("artifacts", {}).get("model_dir", {}).get("path")
    if not folder:
        raise ValueError(f"{spec}: not a stance model (its MLmodel has no 'model_dir' artifact)")
    return local / folder
