"""pipeline/splitter.py: where a line of news text is cut into sentences. The cases are the
edge cases of issue 19; where the splitter parts from pysbd on purpose, the test says so.
Every text here is invented."""

import random

import pytest

from pipeline.splitter import split


def pieces(line):
    return [text for _, text in split(line)]


@pytest.mark.parametrize(
    "line, expected",
    [
        # dotted abbreviations: a new sentence only before a word that starts sentences
        ("The U.S. fined Tarvell Mining on Monday. Ostrania denied it.",
         ["The U.S. fined Tarvell Mining on Monday.", "Ostrania denied it."]),
        ("Talks with the U.S. It was the third round.", ["Talks with the U.S.", "It was the third round."]),
        ("Envoys reached the U.N. The session opened late.", ["Envoys reached the U.N.", "The session opened late."]),
        ("The U.S. Navy denied it.", ["The U.S. Navy denied it."]),
        # titles never end a sentence
        ("Gen. Ardel Voss denied the order. Dr. Mira Kest disagreed.",
         ["Gen. Ardel Voss denied the order.", "Dr. Mira Kest disagreed."]),
        ("She lives on St. Orlan Road. Fr. Tomas Velk said so.",
         ["She lives on St. Orlan Road.", "Fr. Tomas Velk said so."]),
        # other abbreviations end one before a capital, not before a number or a lower-case word
        ("Shares of Brantor Inc. The company fell.", ["Shares of Brantor Inc.", "The company fell."]),
        ("Brantor Corp. fell and Welm Ltd. rose.", ["Brantor Corp. fell and Welm Ltd. rose."]),
        ("The vote on Jan. 5 was the No. 2 item.", ["The vote on Jan. 5 was the No. 2 item."]),
        ("The vote was held in Jan. The result came later.", ["The vote was held in Jan.", "The result came later."]),
        # a.m. and p.m.
        ("Mr. Lee met Sen. Varga at 3 p.m. on Jan. 5 in Korlin.", ["Mr. Lee met Sen. Varga at 3 p.m. on Jan. 5 in Korlin."]),
        ("The raid ended at 4 a.m. Police left.", ["The raid ended at 4 a.m.", "Police left."]),
        ("He left after 3 a.m. \"It was late,\" a guard said.",  # pysbd: one sentence
         ["He left after 3 a.m.", "\"It was late,\" a guard said."]),
        # numbers and initials
        ("Output fell 4.5% in 2023. Exports rose 3.25 percent.", ["Output fell 4.5% in 2023.", "Exports rose 3.25 percent."]),
        ("Judge Anna K. Brill ruled. The appeal failed.", ["Judge Anna K. Brill ruled.", "The appeal failed."]),
        ("It was Plan B. The plan failed.", ["It was Plan B. The plan failed."]),  # an initial, as pysbd takes it
        ("The attack killed 12. 14 others were hurt.", ["The attack killed 12.", "14 others were hurt."]),
        ("1. The mayor resigned. 2. The council met.", ["1. The mayor resigned.", "2. The council met."]),
        # ellipses
        ("He waited... Then he left.", ["He waited...", "Then he left."]),
        ("He waited... then he left.", ["He waited... then he left."]),
        ("He waited\u2026 Then he left.", ["He waited\u2026", "Then he left."]),  # pysbd: one sentence
        # never before a lower-case word
        ("Why? Because they lied.", ["Why?", "Because they lied."]),
        ("Why? because they lied.", ["Why? because they lied."]),  # pysbd: two
        ("Stop! the guard shouted.", ["Stop! the guard shouted."]),
    ],
)
def test_sentence_ends(line, expected):
    assert pieces(line) == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        ('"These claims are false," he said. The ministry declined to comment.',
         ['"These claims are false," he said.', "The ministry declined to comment."]),
        ("He said: \u201cIt is a lie.\u201d Officials then left.", ["He said: \u201cIt is a lie.\u201d", "Officials then left."]),
        # a quoted passage of several sentences stays in the sentence that quotes it
        ("\u201cWe acted lawfully. We will appeal,\u201d Velmar said. The court adjourned.",
         ["\u201cWe acted lawfully. We will appeal,\u201d Velmar said.", "The court adjourned."]),
        ('"We acted lawfully. We will appeal," Velmar said.', ['"We acted lawfully. We will appeal," Velmar said.']),
        ("\u201cWhy?\u201d he asked. Nobody answered.", ["\u201cWhy?\u201d he asked.", "Nobody answered."]),
        # a quotation that ends a sentence before another opens: two sentences (pysbd: one)
        ('He called it "a fabrication." "We have nothing to hide," she said.',
         ['He called it "a fabrication."', '"We have nothing to hide," she said.']),
        ("He called it \u2018a lie.\u2019 The minister left.", ["He called it \u2018a lie.\u2019", "The minister left."]),
        # a quotation that runs on past the line: the text after its end is not protected
        ('The ministry said "no talks will follow. The port stays shut. Officials left.',
         ['The ministry said "no talks will follow.', "The port stays shut.", "Officials left."]),
        ('"We have finished." The inspectors left. "Nothing was found," the mayor said.',
         ['"We have finished."', "The inspectors left.", '"Nothing was found," the mayor said.']),
        # a quotation closed here but opened on an earlier line: its closing mark does not open a
        # span up to the next quotation (pysbd pairs marks in turn: one sentence)
        ('We will appeal." The case was filed on Tuesday. Officials said "no comment."',
         ['We will appeal."', "The case was filed on Tuesday.", 'Officials said "no comment."']),
        # brackets
        ("The firm (which denied it.) The rest followed.", ["The firm (which denied it.) The rest followed."]),
        ("A crowd gathers outside the court. (Photo: Korlin Daily) The trial began.",
         ["A crowd gathers outside the court.", "(Photo: Korlin Daily)", "The trial began."]),
        ("It happened on Jan. 13, 2019. (Photo by Agency)", ["It happened on Jan. 13, 2019.", "(Photo by Agency)"]),
        ("(Meridian Wire) The minister resigned. Talks stalled.",
         ["(Meridian Wire)", "The minister resigned.", "Talks stalled."]),
        # a headline without a full stop stays whole, even with a quotation up front
        ('"Missing" Tesk man found working abroad', ['"Missing" Tesk man found working abroad']),
        ("Regulator fines carmaker over emissions cheating", ["Regulator fines carmaker over emissions cheating"]),
    ],
)
def test_quotes_and_brackets(line, expected):
    assert pieces(line) == expected


def test_blank_and_untouched_lines():
    assert split("") == []
    assert split("   ") == []
    assert split("  No full stop here  ") == [(2, "No full stop here")]


WORDS = ["The", "U.S.", "Gen.", "Dr.", "said", "Inc.", "3.5", "a.m.", "p.m.", "Jan.", "No.", "\u201cIt", "lie.\u201d",
         '"We', 'fine."', "(Photo:", "Agency)", "...", "\u2026", "Why?", "yes!", "St.", "J.", "denied", "it.", "Ltd.",
         "'quoted.'", "[sic.]", "--", "e.g.", "12.", "\u00a0", "\t", "x", "Korlin", "mayor"]


@pytest.mark.parametrize("seed", range(5))
def test_offsets_point_into_the_line_and_cover_it(seed):
    rng = random.Random(seed)
    for _ in range(300):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25))).strip()
        out = split(line)
        cursor = 0
        for at, text in out:
            assert line[at:at + len(text)] == text and text == text.strip() and text
            assert not line[cursor:at].strip()  # nothing but whitespace is left between sentences
            cursor = at + len(text)
        assert not line[cursor:].strip()
