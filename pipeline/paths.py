"""Where every stage reads and writes, relative to the repo root. Defined once here;
dvc.yaml names the same files (tests/code/test_dvc_yaml.py keeps them in step)."""

from pathlib import Path

PARAMS = Path("configs/params.yaml")

DATA = Path("data")  # git-ignored, DVC-tracked intermediate data
SENTENCES = DATA / "sentences.jsonl"
SEGMENT_REPORT = DATA / "segment_report.json"
LABELED = DATA / "labeled.jsonl"

METRICS = Path("metrics")  # small, git-tracked metrics files
LABEL_METRICS = METRICS / "label.json"
RULE_METRICS = METRICS / "labeling_functions.json"
