"""The HTML report of `stance score`: one self-contained page (inline CSS, no script, no
external resource) with a summary table and each article's sentences highlighted by
stance. Every piece of input text is escaped, so nothing in an article can inject markup
or script. Written streaming from the output tables, article by article.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from html import escape
from pathlib import Path

from pipeline.io import atomic_write
from pipeline.labels import LABELS

COLOURS = {"accusation": "#f8c9c4", "denial": "#c7dcf7", "neutral": "#ececec"}
STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap}
section{margin:2rem 0;border-top:2px solid #444;padding-top:.5rem}h2{font-size:17px;margin:.2rem 0}
.src{color:#666;font-size:12px}.s{padding:1px 2px;border-radius:3px;margin-right:2px}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px}
.low{opacity:.55;border-bottom:1px dashed #555}
""" + "".join(f".{lab}{{background:{c}}}" for lab, c in COLOURS.items())


def _pct(value) -> str:
    return "" if value is None else f"{100 * float(value):.0f}%"


def _num(value, digits: int = 2) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def _summary_row(s: dict) -> str:
    aid = escape(str(s["article_id"]))
    cells = [f'<td><a href="#a-{aid}">{aid}</a></td>', f'<td class="n">{s["sentences"]}</td>']
    cells += [f'<td class="n">{s[f"n_{lab}"]} ({_pct(s[f"share_{lab}"])})</td>' for lab in LABELS]
    cells.append(f'<td class="n">{_num(s["mean_confidence"])}</td>')
    for lab in ("accusation", "denial"):
        text = s.get(f"top_{lab}")
        cells.append(f"<td>{escape(text)} <span class=src>({_num(s[f'top_{lab}_p'])})</span></td>" if text else "<td></td>")
    return "<tr>" + "".join(cells) + "</tr>\n"


LOW_CONFIDENCE = 0.6  # below it a label is drawn faint and dashed: the model was unsure


def _sentence_span(row: dict) -> str:
    probs = ", ".join(f"{lab} {float(row[f'p_{lab}']):.2f}" for lab in LABELS)
    low = " low" if float(row[f"p_{row['label']}"]) < LOW_CONFIDENCE else ""
    return f'<span class="s {escape(row["label"])}{low}" title="{escape(probs)}">{escape(row["text"])}</span>\n'


def write_html_report(path: Path, summaries: Iterable[dict], rows: Iterable[dict], title: str = "Stance report") -> int:
    """Write the page; returns the number of articles in it. `rows` must come grouped by article."""
    by_id = {s["article_id"]: s for s in summaries}  # one small row per article

    def write(handle) -> int:
        handle.write(f"<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
                     f"<meta name=viewport content='width=device-width,initial-scale=1'>"
                     f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n")
        handle.write("<p class=legend>" + "".join(f'<span class="{lab}">{lab}</span>' for lab in LABELS) +
                     f'<span class="neutral low">faint, dashed: below {LOW_CONFIDENCE:.0%} confidence</span>'
                     " &mdash; hover a sentence for its probabilities</p>\n")
        handle.write("<table><thead><tr><th>article</th><th>sentences</th>" +
                     "".join(f"<th>{lab}</th>" for lab in LABELS) +
                     "<th>mean confidence</th><th>most confident accusation</th><th>most confident denial</th>"
                     "</tr></thead><tbody>\n")
        for summary in by_id.values():
            handle.write(_summary_row(summary))
        handle.write("</tbody></table>\n")
        for article_id, group in itertools.groupby(rows, key=lambda r: r["article_id"]):
            summary = by_id.get(article_id, {})
            aid = escape(str(article_id))
            handle.write(f'<section id="a-{aid}"><h2>{aid}</h2><div class=src>{escape(str(summary.get("source", "")))}'
                         f"</div>\n<p>")
            paragraph = None
            for row in group:
                if paragraph is not None and row.get("paragraph") != paragraph:
                    handle.write("</p>\n<p>")  # the article's own paragraphs
                paragraph = row.get("paragraph")
                handle.write(_sentence_span(row))
            handle.write("</p></section>\n")
        handle.write("</body></html>\n")
        return len(by_id)

    return atomic_write(path, write)
