from pathlib import Path

import pytest

from pipeline.config import ConfigError, Params, load_params, parse_params


def test_project_params_load(root):
    params = load_params(root / "configs/params.yaml")
    assert isinstance(params, Params)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"segment": {"min_wrds": 3}}, "segment.min_wrds: unknown key"),
        ({"sgement": {}}, "sgement: unknown key"),
        ({"segment": {"min_words": 0}}, "segment.min_words"),
        ({"label": {"label_model": {"min_confidence": 2}}}, "label.label_model.min_confidence"),
        ({"segment": {"max_article_bytes": "big"}}, "segment.max_article_bytes"),
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
