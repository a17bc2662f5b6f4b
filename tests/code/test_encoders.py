"""The teacher's encoder, assembled from its installed package pieces (pipeline/encoders.py)."""

import json

import pytest

from pipeline import encoders
from pipeline.classifier import resolve_base_model

pytestmark = pytest.mark.slow  # unpacks 440 MB


def test_assembled_once_from_the_installed_pieces(tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path))
    folder = encoders.assembled("all-mpnet-base-v2")
    assert folder == tmp_path / "encoders" / "all-mpnet-base-v2"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "mpnet"
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))  # safetensors only
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert resolve_base_model("all-mpnet-base-v2") == str(folder)  # the second call reuses it
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_wrong_hash_is_refused_and_nothing_is_left(tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path))
    pieces, _ = encoders.PACKAGED["all-mpnet-base-v2"]
    monkeypatch.setitem(encoders.PACKAGED, "all-mpnet-base-v2", (pieces, "0" * 64))
    with pytest.raises(RuntimeError, match="all-mpnet-base-v2: model.safetensors has sha256"):
        encoders.assembled("all-mpnet-base-v2")
    assert not (tmp_path / "encoders" / "all-mpnet-base-v2").exists()
    assert not list((tmp_path / "encoders").iterdir())  # the partial unpack is gone too
