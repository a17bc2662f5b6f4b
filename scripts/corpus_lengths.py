"""Words per sentence (p10 / median / p90) of the authored corpus files, the seed gold and,
where it exists, the dev set: the figures of docs/authored_corpus.md.

    python scripts/corpus_lengths.py [--devset ../shared/devset/devset.jsonl]
"""

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lengths(path: Path) -> str:
    words = sorted(len(json.loads(line)["text"].split()) for line in path.read_text().splitlines() if line.strip())
    n = len(words)
    return f"{n:>6} sentences  p10 {words[n // 10]:>3}  median {statistics.median(words):>5}  p90 {words[9 * n // 10]:>3}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devset", type=Path, default=ROOT.parent / "shared" / "devset" / "devset.jsonl")
    args = parser.parse_args()
    files = {"authored v2 (articles)": ROOT / "seeds/authored_articles.jsonl",
             "authored v1 (sentences)": ROOT / "seeds/authored_corpus.jsonl",
             "seed gold": ROOT / "seeds/gold_labels.jsonl", "dev set": args.devset}
    for name, path in files.items():
        print(f"{name:<24} {lengths(path) if path.exists() else '(not here)'}")


if __name__ == "__main__":
    main()
