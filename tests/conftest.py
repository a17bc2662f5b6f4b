"""Shared fixtures: the repo root, a subprocess environment with this venv on PATH,
and temporary git+DVC repos holding a copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["pipeline", "configs", "seeds", "dvc.yaml", "research", "pyproject.toml", ".dvcignore"]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def env() -> dict[str, str]:
    """Environment for subprocesses: this venv's scripts first, MLflow offline and quiet."""
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e["MLFLOW_DISABLE_TELEMETRY"] = "true"
    e["PYTHONPATH"] = str(ROOT)
    e.pop("MLFLOW_TRACKING_URI", None)
    return e


def run(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def project(tmp_path: Path, env) -> Path:
    """A fresh git + DVC repo holding the project's code, configs and seeds."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, repo / name)
    (repo / ".gitignore").write_text("/data/\n/mlflow.db\n/mlruns/\n")
    run(["git", "init", "-q"], repo, env)
    run(["git", "config", "user.email", "t@example.com"], repo, env)
    run(["git", "config", "user.name", "test"], repo, env)
    run(["dvc", "init", "-q"], repo, env)
    run(["dvc", "config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "init"], repo, env)
    return repo


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real model folder from a few training steps: for the scoring and export tests."""
    from pipeline.config import TrainConfig
    from pipeline.training import save_model, train_classifier

    rows = [{"text": t, "label": l} for t, l in [
        ("The ministry denied the allegations as baseless.", "denial"),
        ("Rights groups accused the police of torturing detainees.", "accusation"),
        ("The talks are scheduled to resume on Tuesday.", "neutral")]]
    result = train_classifier(TrainConfig(epochs=1, batch_size=3, max_length=32, seed=3), rows, max_steps=2)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_model(result, folder, {"tiny": True, "max_length": 32})
    return folder


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory) -> Path:
    """The tiny model exported as `stance export` does: for the ONNX and Spark tests."""
    from pipeline.export import run as export

    folder = tmp_path_factory.mktemp("tiny-onnx") / "model-onnx"
    export(tiny_model, folder)
    return folder
