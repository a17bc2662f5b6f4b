"""dvc.yaml names the same files as pipeline/paths.py."""

import yaml

from pipeline import paths


def test_stage_outputs_match_paths(root):
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    declared = set()
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key, []):
                declared.add(next(iter(item)) if isinstance(item, dict) else item)
    in_code = {str(v) for k, v in vars(paths).items() if k.isupper() and k not in ("DATA", "MODELS", "METRICS", "PLOTS", "PARAMS")}
    assert in_code <= declared, in_code - declared


def test_every_stage_calls_the_cli(root):
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert all(stage["cmd"].startswith("stance ") for stage in stages.values())
