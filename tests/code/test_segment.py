from pathlib import Path

import pytest
import yaml

from pipeline.config import SegmentConfig
from pipeline.inputs import Document
from pipeline.segmentation import (compile_boilerplate, load_boilerplate, normalise, segment_article, segment_text,
                                   sentence_id)


@pytest.fixture(scope="module")
def boilerplate(root):
    return compile_boilerplate(yaml.safe_load((root / "configs/boilerplate.yaml").read_text())["drop_lines"])


def texts(article_text, boilerplate, min_words=3):
    return [s.text for s in segment_text("a1", article_text, boilerplate, min_words)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The U.S. imposed sanctions on Monday. Beijing denied the claims.",
         ["The U.S. imposed sanctions on Monday.", "Beijing denied the claims."]),
        ("Gen. Smith denied ordering the strike. Dr. Jones disagreed with him.",
         ["Gen. Smith denied ordering the strike.", "Dr. Jones disagreed with him."]),
        ('"These claims are false," he said. The ministry declined to comment.',
         ['"These claims are false," he said.', "The ministry declined to comment."]),
        ("He said: \u201cIt is a lie.\u201d Officials then left the room.",
         ["He said: \u201cIt is a lie.\u201d", "Officials then left the room."]),
        ("Mr. Lee met Sen. Warren at 3 p.m. on Jan. 5 in Washington.",
         ["Mr. Lee met Sen. Warren at 3 p.m. on Jan. 5 in Washington."]),
    ],
)
def test_sentence_boundaries(boilerplate, text, expected):
    assert texts(text, boilerplate) == expected


def test_headline_without_full_stop_stays_its_own_sentence(boilerplate):
    text = "Regulator fines carmaker over emissions cheating\n\nThe company said it would appeal the decision."
    assert texts(text, boilerplate) == [
        "Regulator fines carmaker over emissions cheating",
        "The company said it would appeal the decision.",
    ]


@pytest.mark.parametrize(
    "line",
    ["Logo", "Advertisement", "SHARE THIS ARTICLE", "Like it? Share with your friends!",
     "Press TV\u2019s website can also be accessed at the following alternate addresses:",
     "www.presstv.co.uk", "News   /   China   /   Editor's Choice", "(With agency inputs)",
     "Your email address will not be published. Required fields are marked *",
     "Discuss This Article", "Recommended For You"],
)
def test_boilerplate_lines_are_dropped(boilerplate, line):
    text = f"{line}\n\nThe ministry rejected the report as baseless.\n"
    assert texts(text, boilerplate) == ["The ministry rejected the report as baseless."]


def test_real_text_that_mentions_boilerplate_words_is_kept(boilerplate):
    text = ("The company's logo was removed from the stadium after the fraud charges.\n"
            "Advertisement revenue fell, the regulator said in a report on share prices.\n")
    assert len(texts(text, boilerplate)) == 2


def test_repeated_headline_and_photo_credit_are_dropped(boilerplate):
    text = ("Minister denies bribery claims\n\nA crowd gathers outside the court. (Photo by AP)\n\n"
            "Minister denies bribery claims\n\nThe minister called the report a smear.")
    assert texts(text, boilerplate) == [
        "Minister denies bribery claims", "A crowd gathers outside the court.",
        "The minister called the report a smear.",
    ]


def test_short_fragments_are_dropped(boilerplate):
    assert texts("Lester Mason\nJuly 13, 2019\nThe letter was sent to the council.", boilerplate) == [
        "The letter was sent to the council."]


def test_offsets_point_into_the_article(boilerplate):
    text = "Logo\n\n  Officials denied it. \u201cNo abuse happened,\u201d she said.\n\nTalks resume on Monday."
    sentences = segment_text("a1", text, boilerplate, 3)
    assert [s.index for s in sentences] == [0, 1, 2]
    for s in sentences:
        assert text[s.start:s.end] == s.text


def test_ids_are_stable_and_ignore_formatting():
    a = sentence_id("art", "China \u201cdenied\u201d  the claims.")
    assert a == sentence_id("art", 'china "denied" the claims.')
    assert a != sentence_id("other", "China denied the claims.")
    assert len(a) == 16 and a == sentence_id("art", "China \u201cdenied\u201d  the claims.")


def test_ids_survive_resegmentation(boilerplate):
    before = segment_text("a1", "Intro line here now.\nThe firm denied the claims.", boilerplate, 3)
    after = segment_text("a1", "A new first line.\nIntro line here now. The firm denied the claims.", boilerplate, 3)
    assert {s.text: s.sentence_id for s in before}.items() <= {s.text: s.sentence_id for s in after}.items()


def test_normalise():
    assert normalise("  It\u2019s  \u201cFINE\u201d ") == "it's 'fine'"


def test_html_main_text_is_extracted(boilerplate):
    html = """<html><head><title>t</title><script>var x = "<b>evil</b>";</script></head><body>
    <nav><a href="/">Home</a> <a href="/world">World</a></nav>
    <article><h1>Ministry rejects report on prison abuse</h1>
    <p>The interior ministry on Tuesday rejected a report by rights groups that accused guards of abuse in
    three prisons, calling its findings fabricated and politically motivated.</p>
    <p>The report, published last week, said at least forty detainees had been beaten during interrogations
    and that several had been denied medical care for weeks.</p></article>
    <footer>Copyright 2024. All rights reserved.</footer></body></html>"""
    article = Document("page", "page.html", html, is_html=True)
    sentences = segment_article(article, SegmentConfig(), boilerplate)
    joined = " ".join(s.text for s in sentences)
    assert "rejected a report by rights groups" in joined and "forty detainees" in joined
    assert "evil" not in joined and "Copyright" not in joined


def test_boilerplate_matcher_agrees_with_trying_each_pattern(boilerplate):
    """The joined and literal-gated matcher (issue 19) drops exactly the lines the patterns do,
    whatever their case, including patterns it cannot join or gate."""
    import random
    import re

    from pipeline.segmentation import _boilerplate_matcher

    texts = ["Logo", "ADVERTISEMENT", "Share this article on Facebook", "News / Korlin / Editor's Choice", "a / b / c",
             "x / y", "Vantor TV news roku", "Vantor TV NEWS ROKU", "Vantor TV neWs \u017foku",
             "Site can also be accessed at the following alternate addresses:", "(Photo: Korlin Daily)",
             "Subscribe to our NEWSLETTER", "Subscribe to our NEW\u017fLETTER", "www.korlin-daily.example",
             "The ministry rejected the report as baseless.", "Sign up for the newsletter: it is free"]
    rng = random.Random(0)
    words = ["/", "news", "roku", "Roku", "share", "article", "can", "also", "be", "accessed", "at", "alternate",
             "address", "newsletter", "subscribe", "the", "\u017f", "denied", "Korlin", "(photo:", "x)"]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    others = [re.compile(p) for p in (r"(a)\1.*", ".*Case Matters", "(?i:.*gated literal)")]
    for patterns in (boilerplate, compile_boilerplate([r"(?-i:ABC) x", ".*hello world", r".*(a)\1"]), others):
        matcher = _boilerplate_matcher(tuple(patterns))
        for text in texts + ["ABC x", "abc x", "Hello World", "so HELLO WORLD", "xaa", "so Case Matters",
                             "so case matters", "a GATED LITERAL"]:
            assert matcher(text) == any(p.fullmatch(text) for p in patterns), text


def test_missing_boilerplate_file_is_reported_by_name(tmp_path, monkeypatch):
    """A `segment.boilerplate_path` that does not exist stops the stage with one line naming the
    file and the key, before any output is written."""
    from pipeline import segment
    from pipeline.config import ConfigError, Params

    missing = tmp_path / "configs" / "no-such-boilerplate.yaml"
    with pytest.raises(ConfigError) as err:
        load_boilerplate(missing)
    assert str(err.value) == f"{missing}: file not found (segment.boilerplate_path)"

    monkeypatch.chdir(tmp_path)
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "a.txt").write_text("The ministry rejected the report as baseless.\n")
    params = Params(segment=SegmentConfig(articles_dir=Path("articles"), boilerplate_path=Path("missing.yaml")))
    with pytest.raises(ConfigError, match=r"^missing\.yaml: file not found \(segment\.boilerplate_path\)$"):
        segment.run(params, lambda line: None)
    assert not (tmp_path / "data").exists()
