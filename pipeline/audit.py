"""Label audit: cleanlab's find_label_issues over the gold and authored labels.

Out-of-fold probabilities come from a cheap probe, not the shipped model: frozen
base-model sentence embeddings (mean pooling) + logistic regression, cross-validated
with folds grouped by article/dispute so that no group is scored by a model that saw it.
The result is a ranked list of likely mislabels for a person to check; nothing is
relabelled automatically.
"""

from __future__ import annotations

import numpy as np

from pipeline.labels import LABEL2ID, LABELS


def embed(texts: list[str], base_model: str, batch_size: int = 64) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from pipeline.classifier import resolve_base_model

    path = resolve_base_model(base_model)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=False).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=128,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.vstack(out) if out else np.zeros((0, 384))


def out_of_fold_probs(features: np.ndarray, labels: np.ndarray, groups: list[str], folds: int, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    probs = np.zeros((len(labels), len(LABELS)))
    for train, test in GroupKFold(n_splits=folds).split(features, labels, groups):
        clf = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced", random_state=seed)
        clf.fit(features[train], labels[train])
        probs[test] = clf.predict_proba(features[test])
    return probs


def find_label_issues(records: list[dict], base_model: str, folds: int = 5, seed: int = 42) -> list[dict]:
    """Records whose given label cleanlab flags, most suspicious first."""
    from cleanlab.filter import find_label_issues as cleanlab_issues

    labels = np.array([LABEL2ID[r["label"]] for r in records])
    groups = [r.get("dispute") or r["article_id"] for r in records]
    probs = out_of_fold_probs(embed([r["text"] for r in records], base_model), labels, groups, folds, seed)
    ranked = cleanlab_issues(labels, probs, return_indices_ranked_by="self_confidence")
    return [{"rank": rank + 1, "source": records[i].get("label_source", ""), "id": records[i]["sentence_id"],
             "text": records[i]["text"], "given": records[i]["label"], "suggested": LABELS[int(probs[i].argmax())],
             "given_prob": round(float(probs[i][labels[i]]), 3)}
            for rank, i in enumerate(ranked)]


def run(params, output) -> str:
    """`stance audit`: rank likely mislabels among the seed gold and authored labels -> CSV."""
    import csv

    from pipeline import paths
    from pipeline.authored import load_authored
    from pipeline.io import atomic_write, read_jsonl
    from pipeline.schema import gold

    records = gold(list(read_jsonl(paths.LABELED))) + load_authored(params.corpus.paths)
    issues = find_label_issues(records, params.train.base_model, seed=params.split.seed)

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=["rank", "source", "id", "given", "suggested", "given_prob", "text"])
        writer.writeheader()
        writer.writerows(issues)

    atomic_write(output, write)
    return f"audit: {len(issues)} likely label issues among {len(records)} labels -> {output}"
