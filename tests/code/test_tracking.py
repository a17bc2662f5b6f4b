from pipeline.tracking import flatten, folder_md5, repo_root, tracking_uri


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


def test_folder_md5_follows_names_and_contents_not_dates(tmp_path):
    import os

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("one")
    (tmp_path / "a" / "y.txt").write_text("two")
    first = folder_md5(tmp_path / "a")
    os.utime(tmp_path / "a" / "x.txt", (0, 0))
    assert folder_md5(tmp_path / "a") == first
    (tmp_path / "a" / "y.txt").write_text("three")
    assert folder_md5(tmp_path / "a") != first
    (tmp_path / "a" / "y.txt").write_text("two")
    (tmp_path / "a" / "y.txt").rename(tmp_path / "a" / "z.txt")
    assert folder_md5(tmp_path / "a") != first
