"""The HTML report escapes everything that comes from an input, shows how sure each label
is, and keeps the article's paragraphs."""

from pipeline.report import write_html_report

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


def summary(article_id, text):
    return {"article_id": article_id, "source": f"{article_id}<b>.txt", "sentences": 1, "n_accusation": 1,
            "n_denial": 0, "n_neutral": 0, "share_accusation": 1.0, "share_denial": 0.0, "share_neutral": 0.0,
            "mean_confidence": 0.9, "top_accusation": text, "top_accusation_p": 0.9, "top_denial": None, "top_denial_p": None}


def row(article_id, text, p=0.9, paragraph=0):
    return {"article_id": article_id, "text": text, "label": "accusation", "paragraph": paragraph,
            "p_accusation": p, "p_denial": (1 - p) / 2, "p_neutral": (1 - p) / 2}


def test_input_text_cannot_inject_markup(tmp_path):
    aid = '"><script>alert(2)</script>'
    page = tmp_path / "report.html"
    assert write_html_report(page, [summary(aid, EVIL)], [row(aid, EVIL)]) == 1
    html = page.read_text()
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count('class="s accusation"') == 1 and "<table>" in html


def test_page_is_self_contained(tmp_path):
    page = tmp_path / "report.html"
    write_html_report(page, [summary("a", "They accused him.")], [row("a", "They accused him.")])
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html


def test_unsure_labels_look_unsure_and_paragraphs_stay(tmp_path):
    page = tmp_path / "report.html"
    rows = [row("a", "Sure one.", 0.98, 0), row("a", "Unsure one.", 0.51, 0), row("a", "Next paragraph.", 0.9, 1)]
    write_html_report(page, [summary("a", "Sure one.")], rows)
    html = page.read_text()
    assert '<span class="s accusation" title' in html and '<span class="s accusation low" title' in html
    section = html[html.index('<section id="a-a">'):]
    assert section.count("<p>") == 2 and section.index("Unsure one.") < section.index("</p>\n<p>") < section.index("Next")
