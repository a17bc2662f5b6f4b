from pipeline.tracking import dvc_lock_hashes, flatten, repo_root, tracking_uri


def test_repo_root_steps_out_of_a_dvc_experiment_copy(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    temp_copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123"
    temp_copy.mkdir(parents=True)
    (temp_copy / "dvc.yaml").write_text("stages: {}\n")
    assert repo_root(temp_copy) == tmp_path
    assert repo_root(tmp_path / "sub" if (tmp_path / "sub").mkdir() is None else tmp_path) == tmp_path


def test_tracking_uri_is_absolute_and_env_overrides(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/x.db")
    assert tracking_uri(tmp_path) == "sqlite:////elsewhere/x.db"


def test_flatten():
    assert flatten({"train": {"lr": 1, "x": {"y": 2}}, "a": 3}) == {"train.lr": 1, "train.x.y": 2, "a": 3}


def test_dvc_lock_hashes_skip_code(tmp_path):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  label:\n    cmd: stance label\n    deps:\n    - path: data/sentences.jsonl\n"
        "      md5: abc\n    - path: pipeline/label.py\n      md5: def\n    outs:\n    - path: data/labeled.jsonl\n"
        "      md5: ghi\n")
    assert dvc_lock_hashes(tmp_path) == {"data.data/sentences.jsonl": "abc", "data.data/labeled.jsonl": "ghi"}
