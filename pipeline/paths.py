"""Where every stage reads and writes, relative to the repo root. Defined once here;
dvc.yaml and research/dvc.yaml name the same files (tests/code/test_dvc_yaml.py keeps them
in step). The CLI changes into the repo root first, so these hold from any folder."""

from pathlib import Path

PARAMS = Path("configs/params.yaml")
CHECKOUT = Path(__file__).resolve().parents[1]  # the project this package was installed from (pip install -e)


def in_project(path: Path) -> Path:
    """A project file for a command run from any folder: `path` as given when it is absolute
    or exists from here, else the same path in the checkout the package runs from."""
    path = Path(path)
    if path.is_absolute() or path.exists() or not (CHECKOUT / path).exists():
        return path
    return CHECKOUT / path


def default_model(backend: str) -> Path:
    """The project's model folder for a scoring backend: the torch model or its ONNX export."""
    return in_project(MODEL_DIR if backend == "torch" else ONNX_DIR)


def project_dir(params_path: Path) -> Path:
    """The folder that a params file's relative paths start from: the one holding configs/."""
    params_path = Path(params_path).resolve()
    return params_path.parent.parent if params_path.parent.name == "configs" else params_path.parent

DATA = Path("data")  # git-ignored, DVC-tracked intermediate data
SENTENCES = DATA / "sentences.jsonl"
SEGMENT_REPORT = DATA / "segment_report.json"
LABELED = DATA / "labeled.jsonl"
SPLITS = DATA / "splits.jsonl"

MODELS = Path("models")
MODEL_DIR = MODELS / "stance"  # safetensors weights, tokenizer, config (label map), card.json
ONNX_DIR = MODELS / "stance-onnx"  # the same model as ONNX, fp32 and int8 (stage export)
REGISTERED = MODELS / "registered.json"  # which model the local MLflow registry holds (stage register)

METRICS = Path("metrics")  # small, git-tracked metrics files
LABEL_METRICS = METRICS / "label.json"
RULE_METRICS = METRICS / "labeling_functions.json"
CORPUS_METRICS = METRICS / "corpus.json"
CROSSVAL_METRICS = METRICS / "crossval.json"
CROSSVAL_PREDICTIONS = METRICS / "crossval_predictions.jsonl"  # every system's out-of-fold label, per gold sentence
GENERALIZATION_METRICS = METRICS / "generalization.json"
EVALUATE_METRICS = METRICS / "evaluate.json"

PLOTS = Path("plots")  # small, git-tracked plot data
CONFUSION = PLOTS / "confusion.json"
PER_CLASS_F1 = PLOTS / "per_class_f1.json"
CONFUSION_PNG = PLOTS / "confusion_matrix.png"
