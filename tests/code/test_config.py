import json
from pathlib import Path

import pytest
import yaml

from pipeline.config import ConfigError, load_params, parse_params


def test_project_params_load(root):
    """configs/params.yaml holds what the stages rely on: inputs that are in the repository, a
    packaged base model, a split that leaves articles to train on, and disputes to calibrate on."""
    from pipeline.classifier import BUNDLED_BASE_MODEL, resolve_base_model
    from pipeline.encoders import PACKAGED
    from pipeline.io import read_jsonl
    from pipeline.segmentation import load_boilerplate
    from pipeline.weak import load_rules

    params = load_params(root / "configs/params.yaml")
    for path in (params.segment.articles_dir, params.segment.boilerplate_path, params.label.gold_path,
                 params.label.rules_path, *params.corpus.paths):
        assert (root / path).exists(), f"{path} is not in the repository"
    assert load_boilerplate(root / params.segment.boilerplate_path) and load_rules(root / params.label.rules_path)

    # an installed package (pipeline/encoders.py), so that training needs no model hub
    assert params.train.base_model in (BUNDLED_BASE_MODEL, *PACKAGED)
    if params.train.base_model == BUNDLED_BASE_MODEL:  # the others are assembled in the slow test_encoders
        base = Path(resolve_base_model(params.train.base_model))
        assert (base / "model.safetensors").is_file()
        config = json.loads((base / "config.json").read_text())
        assert 0 < params.train.max_length <= config["max_position_embeddings"]
        assert params.train.frozen_layers < config["num_hidden_layers"]

    # `split` holds out whole gold-labelled articles and must leave at least one to train on
    gold_articles = {row["article_id"] for row in read_jsonl(root / params.label.gold_path)}
    assert 1 <= params.split.test_articles < len(gold_articles)

    # the shipped recipe trains on the authored corpus and fits its temperature on held-out disputes
    assert params.train.use_authored and params.train.valid_disputes > 0
    assert params.train.calibrate
    assert params.mlflow.registered_model and params.mlflow.alias


def test_params_that_dvc_tracks_are_written_out(root):
    """Every `params:` key of dvc.yaml and research/dvc.yaml is in configs/params.yaml: DVC reads
    the file itself, not the code's defaults, and fails on a key the file lacks."""
    raw = yaml.safe_load((root / "configs/params.yaml").read_text())
    tracked = []
    for pipeline in ("dvc.yaml", "research/dvc.yaml"):
        for name, stage in yaml.safe_load((root / pipeline).read_text())["stages"].items():
            for entry in stage.get("params", []):
                keys = entry.get("configs/params.yaml", []) if isinstance(entry, dict) else []
                tracked += [(pipeline, name, key) for key in keys]
    assert tracked
    for pipeline, name, key in tracked:
        node = raw
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{pipeline} stage {name}: {key} not in configs/params.yaml"
            node = node[part]


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"segment": {"min_wrds": 3}}, "segment.min_wrds: unknown key"),
        ({"sgement": {}}, "sgement: unknown key"),
        ({"segment": {"min_words": 0}}, "segment.min_words"),
        ({"label": {"label_model": {"min_confidence": 2}}}, "label.label_model.min_confidence"),
        ({"segment": {"max_article_bytes": "big"}}, "segment.max_article_bytes"),
        ({"train": {"precision": "fp16"}}, "train.precision"),
    ],
)
def test_bad_params_name_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        parse_params(raw, Path("configs/params.yaml"))
    message = str(err.value)
    assert message.startswith("configs/params.yaml: ") and key in message
    assert "\n" not in message


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_params(["segment"], Path("p.yaml"))


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("segment:\n  min_words: [3\n")
    with pytest.raises(ConfigError, match=r"params.yaml: not valid YAML at line \d+"):
        load_params(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
