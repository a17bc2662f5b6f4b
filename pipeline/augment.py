"""Name-swap augmentation: copies of training sentences whose actors, places and groups
are replaced, consistently within a sentence, by names from another dispute. The stance
words stay; the parties change, so the model cannot lean on who is speaking.

Names are capitalised word runs (e.g. "Halvorsen Pharma", "Beijing", "Karen Pierce")
minus a stop list of capitalised function words, months and days.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

_RUN = re.compile(r"\b[A-Z][\w.-]*(?:(?:\s+(?:of|de|al|the)\b)?\s+[A-Z][\w.-]*)*")
_POSSESSIVE = re.compile(r"['’]s?$")
_STOP = set("""a an the he she it its they we i our his her their this that these those in on at for but and
when while after before earlier following however separately now every several both more most many some
no not one two three four five six seven eight nine ten as if what who why how where there here also
monday tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december mr mrs ms dr un""".split())


def with_dispute(records: list[dict], default: str = "articles") -> list[dict]:
    """Records with a `dispute`; real-news article sentences, which carry none, all count as
    one dispute, so that their names are swapped for another dispute's."""
    return [{**r, "dispute": r.get("dispute") or default} for r in records]


def names_in(text: str, known: set[str] | None = None) -> list[str]:
    """Distinct capitalised names in a sentence, longest first. A single word opening the
    sentence is capitalised anyway, so it counts only if `known` lists it as a name."""
    found = []
    for match in _RUN.finditer(text):
        words = match.group(0).split()
        at_start = not text[:match.start()].strip(" \"“‘'([")
        while words and words[0].lower().strip("'’.") in _STOP:
            words, at_start = words[1:], False
        name = _POSSESSIVE.sub("", " ".join(words).rstrip("."))
        if at_start and len(words) == 1 and name not in (known or set()):
            continue
        if name and name.lower() not in _STOP and len(name) > 1 and name not in found:
            found.append(name)
    return sorted(found, key=len, reverse=True)


def swap_names(text: str, replacements: dict[str, str]) -> str:
    if not replacements:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in sorted(replacements, key=len, reverse=True)))
    return pattern.sub(lambda m: replacements[m.group(0)], text)


def name_pools(records: list[dict], group_key: str = "dispute") -> dict[str, list[str]]:
    pools: dict[str, set[str]] = defaultdict(set)
    for r in records:
        pools[r.get(group_key) or r["article_id"]].update(names_in(r["text"]))
    return {group: sorted(names) for group, names in pools.items() if names}


def known_names(pools: dict[str, list[str]]) -> set[str]:
    return {name for names in pools.values() for name in names}


def augment(records: list[dict], copies: int, pools: dict[str, list[str]], seed: int) -> list[dict]:
    """`copies` name-swapped variants of every record that has names, each with the
    names of one randomly drawn other group; same label."""
    rng = random.Random(seed)
    groups = sorted(pools)
    known = known_names(pools)
    out = []
    for r in records:
        names = names_in(r["text"], known)
        own = r.get("dispute") or r["article_id"]
        others = [g for g in groups if g != own]
        if not names or not others:
            continue
        for k in range(copies):
            pool = pools[rng.choice(others)]
            mapping = {n: rng.choice(pool) for n in names}
            text = swap_names(r["text"], mapping)
            if text != r["text"]:
                swapped = {**r, "text": text, "sentence_id": f"{r['sentence_id']}~swap{k}", "label_source": "augmented"}
                if "context" in r:  # the same names in the same article
                    swapped["context"] = [swap_names(c, mapping) for c in r["context"]]
                out.append(swapped)
    return out
