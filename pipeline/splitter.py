"""Sentence splitting of one line of news text, by rules: `split(line) -> [(offset, sentence)]`.

It replaces pysbd (issue 19), which split sentences far too slowly to feed a GPU; this one
finds the candidate ends with one regular expression and applies the rules to those alone
(docs/benchmarks.md). It follows pysbd's policy, so that the sentences the labelled seed
articles were cut into stay the same (bench/splitter_bench.py compares the two on
hand-split text):

- a sentence ends at `.`, `!`, `?`, `...` or `…`, with any closing quotes or brackets, where
  whitespace and the start of a sentence (a capital, a digit, an opening quote or bracket)
  follow;
- not inside a quotation, parentheses or brackets: a quoted passage of several sentences stays
  in the sentence that quotes it; but a quotation that ends a sentence (`."`, `?”`) ends it;
- not after an abbreviation: titles (`Gen.`, `Dr.`, `St.`) never end one; others (`Inc.`,
  `Jan.`, `No.`) do only before a capital or a quote; single initials (`J.`) never, dotted
  ones (`U.S.`, `U.N.`) only before a word that starts sentences ("The", "It", ...), `a.m.`
  and `p.m.` before any sentence start;
- a parenthesis or quotation that opens a sentence and ends before a capital is a sentence
  of its own ("(Photo: Agency) The minister ..."), as in pysbd.

Where it parts from pysbd, on purpose (each found in hand-split text, and tested in
tests/code/test_splitter.py): it never splits before a lower-case word (pysbd does after `?`
and after words it does not know as abbreviations); it splits after a quotation that closes a
sentence when another quotation opens the next (`." "We`), after `…` before a capital, and
after `a.m.` before a quotation; a straight double quote after a word closes a quotation and
never opens one, so a quotation carried over from an earlier paragraph does not swallow the
sentences up to the next one; it does not take "August 16. The" for a numbered list, nor cut
a closing quote off its sentence.

Offsets are into the line: for every (offset, sentence), line[offset:offset + len(sentence)]
== sentence; sentences are stripped and cover the line's text in order.
"""

from __future__ import annotations

import re

# pysbd's English abbreviation lists (pysbd.lang.common.standard), so that the same periods
# are taken for abbreviations.
ABBREVIATIONS = frozenset(
    "adj adm adv al ala alta apr arc ariz ark art assn asst attys aug ave bart bld bldg blvd brig bros btw cal "
    "calif capt cl cmdr co col colo comdr con conn corp cpl cres ct dak dec del dept det dist dr drs ens esp esq "
    "etc exp expy ext feb fed fla ft fwy fy ga gen gov hon hosp hr hway hwy ia id ida ill inc ind ing insp is jan "
    "jr jul jun kan kans ken ky la lt ltd maj man mar mass may md me med messrs mex mfg mich min minn miss mlle "
    "mm mme mo mont mr mrs ms msgr mssrs mt mtn neb nebr nev no nos nov nr oct ok okla ont op ord ore p pa pd pde "
    "penn penna pfc ph pl plz pp prof pvt que rd rs ref rep reps res rev rt sask sec sen sens sep sept sfc sgt sr "
    "st supt surg tce tenn tex univ usafa ut va v ver viz vs vt wash wis wisc wy wyo yuk fig".split())
# Titles: "Gen. Smith", never the end of a sentence (pysbd's, and "Fr." for Father).
PREPOSITIVE = frozenset(
    "fr adm attys brig capt cmdr col cpl det dr gen gov ing lt maj mr mrs ms mt messrs mssrs prof ph rep reps rev "
    "sen sens sgt st supt v vs fig".split())
# "No. 5", "pp. 12": not an end before a number.
NUMBER_ABBREVIATIONS = frozenset("art ext no nos p pp".split())
# After "U.S." only these words start a sentence (pysbd's list); a name after it ("U.S. Navy")
# is far more common than a new sentence.
STARTERS = frozenset("A Being Did For He How However I In It Millions More She That The There They We What When "
                     "Where Who Why".split())
EXCLAMATION_WORDS = ("Yahoo", "Yum")

# A terminator (group 1) with the quotes and brackets that close after it (group 2), then
# whitespace; the match ends where the next sentence would start. It starts at the terminator
# (not at the word before it) so that the scan skips to the next candidate in C.
_CANDIDATE = re.compile(r"([.!?\u2026]+|-(?=[\"'\u201c\u201d]))([\"'\u201c\u201d\u2019)\]]*)\s+(?=\S)")
_QUOTES = frozenset("\"'\u201c\u201d\u2019")
_OPENERS = "\"'\u201c\u2018([\u00ab"
# Where a full stop does not end a sentence: between quotes and brackets (pysbd's
# BetweenPunctuation; a straight single quote opens only after whitespace).
_PROTECTED = {
    "\u201c": re.compile("\u201c[^\u201c\u201d\\\\]+\u201d"),
    "(": re.compile(r"\([^()\\]+\)"),
    "[": re.compile(r"\[[^\]\\]+\]"),
    "\u00ab": re.compile("\u00ab[^\u00bb\\\\]+\u00bb"),
    "\u2018": re.compile("(?<=\\s)\u2018(?:[^\u2019]|\u2019[a-zA-Z])*\u2019"),
    "--": re.compile(r"--[^-]*--"),
}
_SINGLE_QUOTED = re.compile(r"(?<=\s)'(?:[^']|'[a-zA-Z])*'")
_SINGLE_QUOTED_WORD = re.compile(r"(?<=\s)'(?:[^']|'[a-zA-Z])*'\S")
# A sentence that opens with a parenthesis or quotation closed before a capital ends there.
_OPENING_GROUP = re.compile(r"\((?:[^)]){2,}\)(?=\s[A-Z])|\"[^\"]*[^,]\"(?=\s[A-Z])|\u201c[^\u201d]*[^,]\u201d(?=\s[A-Z])"
                            r"|'[^']*[^,]'(?=\s[A-Z])")
_TERMINATOR = re.compile(r"[.!?]")
_DOTTED = re.compile(r"[A-Za-z](?:\.[A-Za-z])+")
_NEXT_WORD = re.compile(r"[A-Za-z]+(?=\s)")


def split(line: str) -> list[tuple[int, str]]:
    """(offset, sentence) of every sentence of `line` (one line of text, no line breaks)."""
    starts = [0]
    protected = None
    for m in _CANDIDATE.finditer(line):
        nxt = m.end()
        if protected is None:
            protected = _protected_spans(line)
        if _ends_sentence(line, m, nxt, starts[-1], protected):
            starts.append(nxt)
    # pysbd cuts an opening parenthesis or quotation off only in a line with a full stop or the like
    if len(starts) == 1 and not (line and line[0] in _OPENERS and _TERMINATOR.search(line)):
        text = line.strip()
        return [(line.index(text), text)] if text else []
    starts = _opening_groups(line, starts)
    out = []
    for start, end in zip(starts, starts[1:] + [len(line)]):
        piece = line[start:end].strip()
        if piece:
            out.append((line.index(piece, start), piece))
    return out


def _starts_sentence(char: str) -> bool:
    return char.isupper() or char.isdigit() or char in _OPENERS


def _ends_sentence(line: str, m: re.Match, nxt: int, start: int, protected) -> bool:
    term, closers = m.group(1), m.group(2)
    at = m.start()
    token = line[line.rfind(" ", 0, at) + 1:at]
    if not token.isprintable():  # other whitespace (a tab, a no-break space) is nearer than a space
        token = "" if line[at - 1].isspace() else line[:at].split()[-1]
    char = line[nxt]
    if closers and all(c in _QUOTES for c in closers):
        # a quotation that ends with the sentence ends it, inside a quoted passage or not
        return _starts_sentence(char)
    if term == "-":
        return False
    if protected and any(s < at < e for s, e in protected):
        return False
    if term[0] != "." or len(term) > 1:  # ! ? ... and runs of them
        if term[0] == "!" and token.endswith(EXCLAMATION_WORDS):
            return False
        return _starts_sentence(char)
    word = token.lstrip(_OPENERS)
    if len(token) == 1 and "A" <= token <= "Z":  # an initial: "John F. Kennedy"
        return token == "I" and _next_word(line, nxt) in STARTERS
    if _DOTTED.fullmatch(word):  # U.S., e.g., a.m.
        if word.lower() in ("a.m", "p.m"):
            return _starts_sentence(char)
        return word.isupper() and _next_word(line, nxt) in STARTERS
    lower = word.lower()
    if lower in PREPOSITIVE:
        return False
    if lower in ABBREVIATIONS:
        if char.isdigit() or char == "(":
            return False
        if char == "I" and line.startswith(("I ", "I'm", "I'll"), nxt):
            return False
        return _starts_sentence(char)
    if token.isdigit() and len(token) <= 2 and at - len(token) == start:  # "1. " opening a list item
        return False
    return _starts_sentence(char)


def _next_word(line: str, at: int) -> str:
    m = _NEXT_WORD.match(line, at)
    return m.group() if m else ""


def _protected_spans(line: str) -> list[tuple[int, int]]:
    spans = []
    for marker, pattern in _PROTECTED.items():
        if marker in line:
            spans += [m.span() for m in pattern.finditer(line)]
    if '"' in line:
        spans += _double_quoted(line)
    # pysbd leaves single quotes alone where they look like apostrophes ('90s) and none closes
    if "'" in line and not (_SINGLE_QUOTED_WORD.search(line) and not re.search(r"'\s", line)):
        spans += [m.span() for m in _SINGLE_QUOTED.finditer(line)]
    return spans


def _double_quoted(line: str) -> list[tuple[int, int]]:
    """Spans of straight double quotes, an opening one (after whitespace or an opening bracket)
    paired with the next closing one. Pairing them in turn, as pysbd does, protects the text
    between two quotations once one quotation runs on past the line (a quote of several
    paragraphs opens each and closes only the last)."""
    spans, opened, at = [], -1, line.find('"')
    while at >= 0:
        if at == 0 or line[at - 1].isspace() or line[at - 1] in "([{\u2014\u2013-":
            opened = at
        elif opened >= 0:
            if at > opened + 1:
                spans.append((opened, at + 1))
            opened = -1
        at = line.find('"', at + 1)
    return spans


def _opening_groups(line: str, starts: list[int]) -> list[int]:
    out = []
    for start in starts:
        out.append(start)
        while start < len(line) and line[start] in _OPENERS:
            m = _OPENING_GROUP.match(line, start)
            if not m:
                break
            start = m.end() + 1
            while start < len(line) and line[start].isspace():
                start += 1
            out.append(start)
    return sorted(set(out))
