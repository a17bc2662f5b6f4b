"""MLflow tracking: where runs go, and what each run records.

One MLflow run per training: `train` opens it (params, per-epoch curves, tags with the git
commit, the md5 of every input it read and of the model it wrote); `evaluate` re-opens
the run that made the model (found by the model's md5) to add the test metrics and plots,
`register` logs the model into it and registers it as `stance-classifier` with the
`champion` alias on the newest version, and `stance eval-set --mlflow` adds its figures.

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


def setup_mlflow_store(root: Path | None = None) -> None:
    """Point MLflow at the project's store (offline: no telemetry, no download progress bars)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))


def setup_mlflow(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the store and experiment; returns the experiment id."""
    import mlflow

    setup_mlflow_store(root)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        exp_id = found.experiment_id
    else:
        artifacts = None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            artifacts = (repo_root(root) / "mlruns").as_uri()
        exp_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
    if (found.tags if found else {}).get(EXPERIMENT_KIND) != MODEL_TRAINING:
        # MLflow 3's UI opens an experiment without this tag in its GenAI view (traces);
        # this one trains models, so it opens on its runs
        mlflow.MlflowClient().set_experiment_tag(exp_id, EXPERIMENT_KIND, MODEL_TRAINING)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


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


def folder_md5(folder: Path, exclude: frozenset[str] | set[str] = frozenset()) -> str:
    """One md5 over a folder's files (relative names and contents), independent of file dates;
    files named (relative, posix) in `exclude` left out."""
    import hashlib

    from pipeline.io import file_md5

    digest = hashlib.md5()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in exclude:
            digest.update(f"{name}\0{file_md5(path)}\n".encode())
    return digest.hexdigest()


def run_with_tag(key: str, value: str, all_experiments: bool = False) -> str | None:
    """The newest run with tag `key` = `value`, in the active experiment or in all of them."""
    import mlflow

    runs = mlflow.search_runs(filter_string=f"tags.{key} = '{value}'", order_by=["attributes.start_time DESC"],
                              max_results=1, output_format="list", search_all_experiments=all_experiments)
    return runs[0].info.run_id if runs else None


def log_and_register_model(model_dir: Path, config, run_id: str) -> str:
    """Log the model folder as a pyfunc (label + three probabilities) in run `run_id`,
    register it, and point the alias at the new version. Returns the version."""
    import mlflow

    with mlflow.start_run(run_id=run_id):
        info = _log_pyfunc(model_dir, Path(__file__).resolve().parent, config.registered_model)
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(config.registered_model, config.alias, version)
    return version


def _log_pyfunc(model_dir: Path, package: Path, registered_model: str):
    import mlflow
    import torch
    import transformers

    # No signature and no input example: MLflow's schema check would drop a row's unknown
    # columns and turn a missing `text` into an empty answer, or reject an empty request;
    # the pyfunc checks its input itself and names the bad row (pipeline/pyfunc_model.py).
    # (An input example without a signature would also make MLflow pickle the loaded model.)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(package / "pyfunc_model.py"),
        artifacts={"model_dir": str(Path(model_dir).resolve())},
        code_paths=[str(package)],
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}",
                          f"mlflow=={mlflow.__version__}", "pandas", "numpy"],
        registered_model_name=registered_model,
    )


MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def resolve_model(spec: str, cache: Path | None = None) -> Path:
    """A model folder for `spec`: a local folder as given, or an MLflow model URI such as
    `models:/stance-classifier@champion`, downloaded from the project's store and reduced to
    the model folder inside its pyfunc (read with yaml.safe_load: nothing is unpickled)."""
    if not spec.startswith(MLFLOW_SCHEMES):
        return Path(spec)
    import tempfile

    import mlflow

    setup_mlflow_store()
    target = Path(tempfile.mkdtemp(prefix="stance-model-", dir=cache))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=spec, dst_path=str(target)))
    flavor = (yaml.safe_load((local / "MLmodel").read_text()) or {}).get("flavors", {}).get("python_function", {})
    folder = flavor.get("artifacts", {}).get("model_dir", {}).get("path")
    if not folder:
        raise ValueError(f"{spec}: not a stance model (its MLmodel has no 'model_dir' artifact)")
    return local / folder


def load_model(model: str, backend: str, scratch: Path, device: str = "auto",
               threads: int = 0) -> tuple[Path, object]:
    """(model folder, classifier) of a model folder or an MLflow URI (downloaded into
    `scratch`); ValueError with one line saying why it cannot load."""
    from pipeline.classifier import ONNX_FILES, StanceClassifier

    if backend not in ONNX_FILES and backend != "torch":
        raise ValueError(f"--backend: {backend!r} is not one of torch, {', '.join(ONNX_FILES)}")
    try:
        folder = resolve_model(model, scratch)
        return folder, StanceClassifier.load(folder, device=device, backend=backend, threads=threads)
    except Exception as err:
        raise ValueError(f"--model {model}: cannot load ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
