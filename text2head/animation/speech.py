"""A typed line of English -> a timed viseme track -> ARKit mouth keyframes.

No model weights and no dictionary: a small table of common irregular words, then ordered
letter-to-sound rules (digraphs, magic e, soft c/g, double consonants, suffixes) give
ARPAbet phonemes; each phoneme maps to one of the 15 Oculus/Meta lipsync visemes, which avatar
SDKs understand; each viseme has an ARKit mouth shape; keys blend neighbours
(co-articulation) except where the lips must close (m/b/p) or meet the teeth (f/v).

Viseme JSON (`visemes_json`), for apps that sync their own audio to a talk clip::

    {
      "format": "text2head-visemes",      # fixed
      "version": 1,                       # bumped on incompatible changes
      "text": "Mom bought a map.",        # the line as spoken (stripped)
      "duration_s": 1.234,                # end of the last viseme = length of the talk clip
      "phonemes_per_second": 12.0,        # phonemes / seconds spent on phonemes (pauses excluded)
      "viseme_set": "oculus-15",          # sil PP FF TH DD kk CH SS nn RR aa E ih oh ou
      "visemes": [                        # contiguous, in order, from 0 to duration_s
        {"viseme": "sil", "start": 0.0, "end": 0.12, "phoneme": "", "word": "",
         "stressed": false},
        {"viseme": "PP", "start": 0.12, "end": 0.183, "phoneme": "M", "word": "Mom",
         "stressed": false},
        {"viseme": "aa", "start": 0.183, "end": 0.31, "phoneme": "AA", "word": "Mom",
         "stressed": true},
        ...
      ]
    }

Times are seconds rounded to the millisecond. `phoneme` is ARPAbet without stress digits ("" for
silence); `word` is the word as typed (a number's spoken word, e.g. "seven" for "7"; "" for
silence); `stressed` marks the stressed vowel of a content word (the peak to hang a brow raise
or an audio accent on). Pauses are `sil` entries: 0.12 s at the start, 0.25 s at , ; : and
dashes, 0.45 s at . ! ? and 0.2 s at the end (punctuation at the end of the line merges into it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

MAX_SAY_CHARS = 200

START_PAUSE_S = 0.12
END_PAUSE_S = 0.2
CLAUSE_PAUSE_S = 0.25  # , ; : and dashes
SENTENCE_PAUSE_S = 0.45  # . ! ?

VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH",
          "UW"}
VOICELESS = {"P", "T", "K", "F", "TH", "S", "SH", "CH"}


def check_line(text: str) -> str:
    """The line to speak, stripped; ValueError naming what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"the line to say must be text, not {type(text).__name__}")
    line = text.strip()
    if not line:
        raise ValueError("the line to say is empty")
    if len(line) > MAX_SAY_CHARS:
        raise ValueError(f"the line to say has {len(line)} characters; the limit is "
                         f"{MAX_SAY_CHARS}")
    if not re.search(r"[A-Za-z0-9]", _fold(line)):
        raise ValueError("the line to say has no letters or digits to speak (only Latin "
                         "letters, accented or not, and 0-9 are spoken)")
    return line


def _fold(text: str) -> str:
    """Accents off (café -> cafe) and typographic quotes made plain."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


# ----- words to phonemes ---------------------------------------------------------------------

# Irregular words the rules get wrong; a "1" marks the stressed vowel of a word whose stress
# is not on its first vowel.
EXCEPTIONS = {w: p.split() for w, p in {
    "a": "AH", "the": "DH AH", "of": "AH V", "to": "T UW", "do": "D UW", "does": "D AH Z",
    "done": "D AH N", "who": "HH UW", "whom": "HH UW M", "whose": "HH UW Z", "what": "W AH T",
    "where": "W EH R", "there": "DH EH R", "their": "DH EH R", "theirs": "DH EH R Z",
    "they": "DH EY", "them": "DH EH M", "then": "DH EH N", "than": "DH AE N",
    "this": "DH IH S", "that": "DH AE T", "these": "DH IY Z", "those": "DH OW Z",
    "thus": "DH AH S", "though": "DH OW", "although": "AO L DH OW1", "through": "TH R UW",
    "thought": "TH AO T", "with": "W IH DH", "were": "W ER", "was": "W AA Z", "is": "IH Z",
    "his": "HH IH Z", "has": "HH AE Z", "as": "AE Z", "are": "AA R", "have": "HH AE V",
    "give": "G IH V", "gives": "G IH V Z", "given": "G IH V AH N", "live": "L IH V",
    "love": "L AH V", "come": "K AH M", "comes": "K AH M Z", "coming": "K AH M IH NG",
    "become": "B IH K AH1 M", "some": "S AH M", "someone": "S AH M W AH N",
    "something": "S AH M TH IH NG", "nothing": "N AH TH IH NG", "one": "W AH N",
    "once": "W AH N S", "none": "N AH N", "gone": "G AO N", "two": "T UW", "four": "F AO R",
    "eleven": "IH L EH1 V AH N", "hundred": "HH AH N D R AH D",
    "thousand": "TH AW Z AH N D", "million": "M IH L Y AH N", "billion": "B IH L Y AH N",
    "zero": "Z IH R OW", "you": "Y UW", "your": "Y AO R", "yours": "Y AO R Z",
    "you're": "Y AO R", "young": "Y AH NG", "said": "S EH D", "says": "S EH Z",
    "eye": "AY", "eyes": "AY Z", "i": "AY", "hello": "HH AH L OW1", "world": "W ER L D",
    "work": "W ER K", "word": "W ER D", "words": "W ER D Z", "would": "W UH D",
    "could": "K UH D", "should": "SH UH D", "be": "B IY", "he": "HH IY", "me": "M IY",
    "we": "W IY", "she": "SH IY", "being": "B IY IH NG", "been": "B IH N", "any": "EH N IY",
    "many": "M EH N IY", "busy": "B IH Z IY", "only": "OW N L IY", "very": "V EH R IY",
    "every": "EH V R IY", "great": "G R EY T", "break": "B R EY K", "friend": "F R EH N D",
    "friends": "F R EH N D Z", "people": "P IY P AH L", "move": "M UW V",
    "lose": "L UW Z", "whole": "HH OW L", "women": "W IH M AH N", "woman": "W UH M AH N",
    "sure": "SH UH R", "pretty": "P R IH T IY", "again": "AH G EH1 N",
    "against": "AH G EH1 N S T", "because": "B IH K AH1 Z", "other": "AH DH ER",
    "another": "AH N AH1 DH ER", "mother": "M AH DH ER", "brother": "B R AH DH ER",
    "father": "F AA DH ER", "rather": "R AE DH ER", "water": "W AO T ER",
    "want": "W AA N T", "answer": "AE N S ER", "often": "AO F AH N", "listen": "L IH S AH N",
    "island": "AY L AH N D", "laugh": "L AE F", "enough": "IH N AH1 F", "tough": "T AH F",
    "rough": "R AH F", "heart": "HH AA R T", "buy": "B AY", "guy": "G AY", "hour": "AW ER",
    "our": "AW ER", "honest": "AA N AH S T", "poor": "P UH R", "pull": "P UH L",
    "push": "P UH SH", "put": "P UH T", "full": "F UH L", "food": "F UW D", "mood": "M UW D",
    "blood": "B L AH D", "also": "AO L S OW", "ago": "AH G OW1", "idea": "AY D IY1 AH",
    "really": "R IY L IY", "going": "G OW IH NG", "doing": "D UW IH NG", "into": "IH N T UW",
    "today": "T AH D EY1", "tomorrow": "T AH M AA1 R OW", "now": "N AW", "how": "HH AW",
    "cow": "K AW", "allow": "AH L AW1", "own": "OW N", "known": "N OW N", "shown": "SH OW N",
    "grown": "G R OW N", "new": "N UW", "few": "F Y UW", "view": "V Y UW", "use": "Y UW Z",
    "used": "Y UW Z D", "music": "M Y UW Z IH K", "yes": "Y EH S", "us": "AH S",
    "plus": "P L AH S", "bus": "B AH S", "from": "F R AH M", "get": "G EH T",
    "gets": "G EH T S", "getting": "G EH T IH NG", "girl": "G ER L", "gift": "G IH F T",
    "begin": "B IH G IH1 N", "together": "T AH G EH1 DH ER", "forget": "F ER G EH1 T",
    "open": "OW P AH N", "over": "OW V ER", "sign": "S AY N", "design": "D IH Z AY1 N",
    "machine": "M AH SH IY1 N", "police": "P AH L IY1 S", "ocean": "OW SH AH N",
    "english": "IH NG G L IH SH", "business": "B IH Z N AH S", "minute": "M IH N AH T",
    "day": "D EY", "head": "HH EH D", "read": "R IY D", "year": "Y IH R", "any's": "EH N IY Z",
    "don't": "D OW N T", "won't": "W OW N T", "can't": "K AE N T", "shan't": "SH AE N T",
    "ain't": "EY N T", "how's": "HH AW Z", "oh": "OW", "ok": "OW K EY1", "okay": "OW K EY1",
    "mr": "M IH S T ER", "mrs": "M IH S AH Z", "dr": "D AA K T ER", "st": "S EY N T",
    "avatar": "AE V AH T AA R", "text": "T EH K S T", "head's": "HH EH D Z",
    "orange": "AO R AH N JH", "house": "HH AW S", "mouse": "M AW S", "blouse": "B L AW S",
}.items()}

# Unstressed unless typed in capitals or exclaimed.
FUNCTION_WORDS = frozenset([
    "a", "an", "the", "and", "or", "but", "nor", "of", "to", "in", "on", "at", "by", "for",
    "with", "from", "as", "is", "am", "are", "was", "were", "be", "been", "being", "it", "its",
    "it's", "this", "that", "these", "those", "he", "she", "we", "they", "you", "i", "me",
    "him", "her", "us", "them", "my", "your", "his", "our", "their", "do", "does", "did",
    "have", "has", "had", "will", "would", "can", "could", "shall", "should", "may", "might",
    "must", "if", "than", "then", "so", "into", "onto", "up", "out", "i'm", "you're", "we're",
    "they're", "there's", "that's", "let's"
])

LETTER_NAMES = {c: p.split() for c, p in zip("abcdefghijklmnopqrstuvwxyz", [
    "EY", "B IY", "S IY", "D IY", "IY", "EH F", "JH IY", "EY CH", "AY", "JH EY", "K EY",
    "EH L", "EH M", "EH N", "OW", "P IY", "K Y UW", "AA R", "EH S", "T IY", "Y UW", "V IY",
    "D AH B AH L Y UW", "EH K S", "W AY", "Z IY"], strict=True)}

_V = "[aeiouy]"
_C = "[bcdfghjklmnpqrstvwxz]"
_STEM = f"{_V}[a-z]*"  # what comes before has a vowel: a suffix, not the whole word
# Magic e: one consonant, then an e-suffix or -ing, lengthens the vowel before (make, hoped,
# making, paper; -tion too: nation, motion). For e and i, -er and -tion do not (never, vision).
_MAGIC = r"(?:(?:bl|[bcdfgklmnpstvz])(?:e(?:s|d|ly|ment|ness|ful|r|rs)?|ing)|[ts]ion)$"
_MAGIC_EI = r"(?:bl|[bcdfgklmnpstvz])(?:e(?:s|d|ly|ment|ness|ful)?|ing)$"

# letter -> ordered rules (letters matched, left context, right context, phonemes); the first
# whose letters and contexts match wins. Contexts are regexes on the rest of the word ("^" and
# "$" are the word's ends).
_RULES_TEXT: dict[str, list[tuple[str, str, str, str]]] = {
    "a": [("augh", "", "", "AO"), ("au", "", "", "AO"), ("aw", "", f"(?!{_V})", "AO"),
          ("air", "", "", "EH R"), ("ai", "", "", "EY"), ("ay", "", "", "EY"),
          ("are", "", "$", "EH R"), ("arr", "", "", "AE R"), ("ar", "w", "", "AO R"),
          ("ar", "", _V, "EH R"), ("ar", "", "", "AA R"),
          ("alk", "", "", "AO K"), ("all", "", "", "AO L"), ("alm", "", "", "AA M"),
          ("alt", "", "", "AO L T"), ("ange", "", "", "EY N JH"),
          ("a", "", _MAGIC, "EY"), ("a", "(?:w|qu)", "(?![kgx])", "AA"),
          ("a", "^", f"{_C}{_V}", "AH"), ("a", _STEM, "$", "AH"), ("a", "", "", "AE")],
    "b": [("b", "", "", "B")],
    "c": [("ch", "^", "r", "K"), ("ch", "", "", "CH"), ("ck", "", "", "K"),
          ("cc", "", "[eiy]", "K S"), ("cc", "", "", "K"), ("cial", "", "", "SH AH L"),
          ("cious", "", "", "SH AH S"), ("cian", "", "", "SH AH N"), ("c", "", "[eiy]", "S"),
          ("c", "", "", "K")],
    "d": [("dge", "", "", "JH"), ("d", "", "", "D")],
    "e": [("eigh", "", "", "EY"), ("ei", "", "", "IY"), ("eer", "", "", "IH R"),
          ("ee", "", "", "IY"), ("ear", "", _C, "ER"), ("ear", "", "", "IH R"),
          ("ead", "", "", "EH D"), ("ea", "", "sure", "EH"), ("ea", "", "", "IY"),
          ("ew", "", "", "UW"),
          ("ey", "", "$", "IY"), ("ey", "", "", "EY"), ("ere", "", "$", "IH R"),
          ("er", "", "", "ER"),
          ("ed", f"{_STEM}[td]", "$", "IH D"),
          ("ed", f"{_STEM}(?:[pkfxcs]|sh|ch)", "$", "T"), ("ed", _STEM, "$", "D"),
          ("es", f"{_STEM}(?:[sxzcg]|sh|ch)", "$", "IH Z"),
          ("e", _STEM, "s?$", ""),  # silent final e
          ("en", f"{_STEM}{_C}", "$", "AH N"),
          ("e", "", _MAGIC_EI, "IY"), ("e", "", "", "EH")],
    "f": [("f", "", "", "F")],
    "g": [("gh", "^", "", "G"), ("gh", "", "", ""), ("gn", "^", "", "N"),
          ("g", "(?:^|[^g])", "[eiy]", "JH"), ("g", "", "", "G")],
    "h": [("h", _V, "$", ""), ("h", "", "", "HH")],
    "i": [("igh", "", "", "AY"), ("ie", f"^{_C}+", "s?$", "AY"), ("ie", "", "", "IY"),
          ("ire", "", "$", "AY ER"), ("ir", "", "", "ER"), ("ind", "", "$", "AY N D"),
          ("ild", "", "", "AY L D"), ("ious", "", "", "IY AH S"), ("i", "", _MAGIC_EI, "AY"),
          ("i", "", "$", "IY"), ("i", "", "", "IH")],
    "j": [("j", "", "", "JH")],
    "k": [("kn", "^", "", "N"), ("k", "", "", "K")],
    "l": [("le", _C, "$", "AH L"), ("l", "", "", "L")],
    "m": [("mb", "", "$", "M"), ("m", "", "", "M")],
    "n": [("ng", "", "", "NG"), ("nk", "", "", "NG K"), ("n", "", "", "N")],
    "o": [("ough", "", "", "AO"), ("our", "", "$", "AO R"), ("ou", "", "", "AW"),
          ("oor", "", "", "AO R"), ("ook", "", "", "UH K"), ("ood", "", "", "UH D"),
          ("oo", "", "", "UW"), ("ow", "", "$", "OW"), ("ow", "", "", "AW"),
          ("oi", "", "", "OY"), ("oy", "", "", "OY"), ("oa", "", "", "OW"),
          ("oe", "", "s?$", "OW"), ("or", "w", "", "ER"), ("ore", "", "$", "AO R"),
          ("or", "", "", "AO R"), ("old", "", "", "OW L D"), ("oll", "", "", "OW L"),
          ("ong", "", "", "AO NG"), ("o", "", _MAGIC, "OW"), ("o", "", "$", "OW"),
          ("o", "", "", "AA")],
    "p": [("ph", "", "", "F"), ("ps", "^", "", "S"), ("p", "", "", "P")],
    "q": [("que", "", "$", "K"), ("qu", "", "", "K W"), ("q", "", "", "K")],
    "r": [("rh", "", "", "R"), ("r", "", "", "R")],
    "s": [("sch", "", "", "S K"), ("sc", "", "[eiy]", "S"), ("sh", "", "", "SH"),
          ("sion", _V, "", "ZH AH N"),
          ("sion", "", "", "SH AH N"), ("sure", _V, "", "ZH ER"), ("sure", "", "", "SH ER"),
          ("s", "s", "", "S"), ("s", _V, _V, "Z"), ("s", "^[a-z]*[aiu]", "$", "S"),
          ("s", "[a-z]", "$", "Z"), ("s", "", "", "S")],
    "t": [("tch", "", "", "CH"), ("ther", "[a-z]", "", "DH ER"), ("tion", "s", "", "CH AH N"),
          ("tion", "", "", "SH AH N"),
          ("tial", "", "", "SH AH L"), ("tious", "", "", "SH AH S"), ("ture", "", "", "CH ER"),
          ("th", "", "", "TH"), ("t", "", "", "T")],
    "u": [("ue", "", "s?$", "UW"), ("ui", "", "", "UW"), ("ure", "", "$", "Y UH R"),
          ("ur", "", "", "ER"), ("u", "(?:^|[jlrs]|ch)", _MAGIC, "UW"),
          ("u", "", _MAGIC, "Y UW"), ("u", "[pbf]", "(?:ll|sh)", "UH"), ("u", "", "", "AH")],
    "v": [("v", "", "", "V")],
    "w": [("wh", "", "o", "HH"), ("wh", "", "", "W"), ("wr", "^", "", "R"), ("w", "", "", "W")],
    "x": [("x", "^", "", "Z"), ("x", "", "", "K S")],
    "y": [("y", "^", "", "Y"), ("y", "", "ing", "AY"), ("y", "", _V, "Y"),
          ("y", _STEM, "$", "IY"), ("y", "", "$", "AY"), ("y", "", _MAGIC_EI, "AY"),
          ("y", "", "", "IH")],
    "z": [("z", "", "", "Z")],
}
_RULES = {letter: [(match, re.compile(f"(?:{left})$") if left else None,
                    re.compile(right) if right else None, phones.split())
                   for match, left, right, phones in rules]
          for letter, rules in _RULES_TEXT.items()}


def _spell(word: str) -> list[str]:
    """Letter-to-sound rules for one lower-case word of a-z."""
    phones: list[str] = []
    i = 0
    while i < len(word):
        letter = word[i]
        if letter not in "aeiouc" and word[i + 1:i + 2] == letter:  # double consonant
            i += 1
            continue
        for match, left, right, out in _RULES[letter]:
            if (word.startswith(match, i) and (left is None or left.search(word[:i]))
                    and (right is None or right.match(word[i + len(match):]))):
                phones += out
                i += len(match)
                break
    return phones


def _with_suffix(phones: list[str], suffix: str) -> list[str]:
    """Add a plural/possessive s or a contraction ('s 're 'll 've 'd 'm n't) to a stem."""
    if suffix == "s":
        if phones[-1] in {"S", "Z", "SH", "ZH", "CH", "JH"}:
            return phones + ["IH", "Z"]
        return phones + ["S" if phones[-1] in VOICELESS else "Z"]
    ending = {"t": ["N", "T"], "re": ["ER"], "ll": ["L"], "ve": ["V"], "d": ["D"], "m": ["M"]}
    return phones + ending.get(suffix, [])


def _word(word: str) -> tuple[list[str], int | None]:
    """Phonemes of a word (letters and apostrophes) and the index of the stressable vowel."""
    lower = word.lower()
    if lower in EXCEPTIONS:
        marked = EXCEPTIONS[lower]
        phones = [p.rstrip("1") for p in marked]
        stress = next((i for i, p in enumerate(marked) if p.endswith("1")), None)
        return phones, stress if stress is not None else _first_vowel(phones, lower)
    if "'" in lower:
        stem, _, suffix = lower.partition("'")
        if suffix == "t" and stem.endswith("n"):  # isn't, didn't: the n is in the stem
            stem, suffix = stem[:-1], "t"
        phones, stress = _word(stem)
        return _with_suffix(phones, suffix), stress
    if word.isupper() and len(word) > 1 and not re.search("[AEIOUY]", word) or len(word) == 1:
        phones = [p for c in lower for p in LETTER_NAMES[c]]  # TV, BBC, single letters
        return phones, _first_vowel(phones, "")
    phones = _spell(lower)
    if lower.endswith("s") and len(phones) > 1 and phones[-1] == "Z" and (
            phones[-2] in VOICELESS):
        phones[-1] = "S"  # cats, makes
    return phones, _first_vowel(phones, lower)


def _first_vowel(phones: list[str], word: str) -> int | None:
    """First vowel, skipping an initial schwa (about, away) when another vowel follows."""
    vowels = [i for i, p in enumerate(phones) if p in VOWELS]
    if not vowels:
        return None
    if word.startswith("a") and phones[vowels[0]] == "AH" and len(vowels) > 1:
        return vowels[1]
    return vowels[0]


def word_phonemes(word: str) -> list[str]:
    """ARPAbet phonemes (no stress digits) of one English word, e.g. "night" -> N AY T."""
    return _word(_fold(word))[0]


# ----- numbers -------------------------------------------------------------------------------

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS = (
    "_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
             "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> list[str]:
    """English words for 0 <= n < 10**12 (1205 -> one thousand two hundred five)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + (number_words(n % 10) if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for scale, name in _SCALES:
        if n >= scale:
            rest = number_words(n % scale) if n % scale else []
            return number_words(n // scale) + [name] + rest
    raise AssertionError("unreachable")


def year_words(n: int) -> list[str] | None:
    """A four-digit number as a year is said (1999 -> nineteen ninety nine, 1905 -> nineteen
    oh five, 1900 -> nineteen hundred, 2026 -> twenty twenty six), for 1100-1999 and
    2010-2099; None outside them (2005 is two thousand five)."""
    if not (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return None
    century, rest = divmod(n, 100)
    if rest == 0:
        return number_words(century) + ["hundred"]
    return number_words(century) + (["oh", _ONES[rest]] if rest < 10 else number_words(rest))


def _number(text: str) -> list[str]:
    """Words for a digit token: 42, 1,000, 3.14, 21st, years (a plain four-digit number, see
    `year_words`); very long numbers digit by digit."""
    text = text.lower()
    ordinal = text[-2:] in ("st", "nd", "rd", "th")
    digits = text[:-2] if ordinal else text
    if not ordinal and re.fullmatch(r"\d{4}", digits) and (year := year_words(int(digits))):
        return year
    if re.fullmatch(r"\d{1,3}(,\d{3})+", digits):
        digits = digits.replace(",", "")
    whole, _, fraction = digits.partition(".")
    whole = whole.replace(",", "")
    words = [_ONES[int(d)] for d in whole] if len(whole) > 12 else number_words(int(whole))
    if fraction:
        words += ["point"] + [_ONES[int(d)] for d in fraction if d.isdigit()]
    elif ordinal:
        last = words[-1]
        words[-1] = _ORDINALS.get(last) or (last[:-1] + "ieth" if last.endswith("y")
                                            else last + "th")
    return words


# ----- the line to a track -------------------------------------------------------------------

_TOKENS = re.compile(r"""
    (?P<number>\d[\d,.]*\d(?:st|nd|rd|th)?|\d(?:st|nd|rd|th)?)
  | (?P<word>[A-Za-z]+(?:'[A-Za-z]+)*)
  | (?P<sentence>[.!?]+)
  | (?P<clause>[,;:]|\s-+\s|--+|[\u2013\u2014])
  | (?P<symbol>[&%+@])
""", re.VERBOSE)
_SYMBOLS = {"&": "and", "%": "percent", "+": "plus", "@": "at"}


@dataclass
class Viseme:
    """One segment of the track: a viseme held from `start` to `end` seconds."""

    viseme: str
    start: float
    end: float
    phoneme: str
    word: str
    stressed: bool


def _items(line: str) -> list[tuple[str, float] | tuple[str, list[str], int | None]]:
    """Words as (word, phonemes, stressed vowel index or None) and pauses as ("", seconds)."""
    items: list = []
    for token in _TOKENS.finditer(_fold(line)):
        kind, text = token.lastgroup, token.group()
        if kind in ("sentence", "clause"):
            if not items:
                continue  # the opening silence covers it
            if "!" in text and items[-1][0]:  # an exclaimed word is stressed, even "you!"
                word, phones, _ = items[-1]
                items[-1] = (word, phones, _word(word)[1])
            pause = SENTENCE_PAUSE_S if kind == "sentence" else CLAUSE_PAUSE_S
            if items[-1][0]:
                items.append(("", pause))
            else:
                items[-1] = ("", max(items[-1][1], pause))
            continue
        words = (_number(text) if kind == "number" else
                 [_SYMBOLS[text]] if kind == "symbol" else [text])
        for word in words:
            phones, stress = _word(word)
            shouted = word.isupper() and len(word) > 1
            if word.lower() in FUNCTION_WORDS and not shouted:
                stress = None
            if phones:
                items.append((word, phones, stress))
    while items and not items[-1][0]:
        items.pop()  # the closing silence covers it
    return items


def _relative_length(phone: str, stressed: bool) -> float:
    """How long a phoneme lasts relative to the others: vowels long, stops short."""
    if phone in VOWELS:
        length = 1.45 if phone in {"AY", "AW", "OY", "EY", "OW"} else 1.25
        if phone in {"AH", "IH"} and not stressed:
            length = 0.9  # reduced vowels
        return length * (1.3 if stressed else 1.0)
    if phone in {"P", "B", "T", "D", "K", "G"}:
        return 0.7
    if phone in {"L", "R", "W", "Y"}:
        return 0.75
    if phone in {"M", "N", "NG"}:
        return 0.85
    return 0.95  # fricatives and affricates


PHONEME_VISEMES = {
    "P": "PP", "B": "PP", "M": "PP", "F": "FF", "V": "FF", "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "K": "kk", "G": "kk", "NG": "kk", "CH": "CH", "JH": "CH",
    "SH": "CH", "ZH": "CH", "S": "SS", "Z": "SS", "N": "nn", "L": "nn", "R": "RR", "ER": "RR",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa", "EH": "E", "EY": "E",
    "IH": "ih", "IY": "ih", "Y": "ih", "AO": "oh", "OW": "oh", "OY": "oh", "UH": "ou",
    "UW": "ou", "W": "ou",
}


def viseme_track(text: str, rate: float = 12.0) -> list[Viseme]:
    """The line as contiguous visemes from 0 s, speaking `rate` phonemes a second on average.

    Each phoneme's length is its class's relative length (vowels longer, stops shorter,
    stressed vowels longer) scaled so the phonemes average exactly 1/rate s; pauses are fixed.
    """
    if not 4.0 <= rate <= 30.0:
        raise ValueError(f"speech rate must be 4 to 30 phonemes a second, not {rate}")
    segments: list[tuple[str, str, str, bool, float]] = []  # viseme, phoneme, word, stressed, s
    spoken: list[int] = []
    for item in _items(check_line(text)):
        if not item[0]:
            segments.append(("sil", "", "", False, item[1]))
            continue
        word, phones, stress = item
        for i, phone in enumerate(phones):
            if phone == "HH":  # h takes the shape of the sound it breathes into
                viseme = PHONEME_VISEMES.get(phones[i + 1], "kk") if i + 1 < len(phones) else "kk"
            else:
                viseme = PHONEME_VISEMES[phone]
            spoken.append(len(segments))
            stressed = i == stress
            segments.append((viseme, phone, word, stressed, _relative_length(phone, stressed)))
    scale = len(spoken) / rate / sum(segments[i][4] for i in spoken)
    segments = ([("sil", "", "", False, START_PAUSE_S)]
                + [(v, p, w, s, d * scale if p else d) for v, p, w, s, d in segments]
                + [("sil", "", "", False, END_PAUSE_S)])
    track, clock = [], 0.0
    for viseme, phone, word, stressed, length in segments:
        start = round(clock, 3)
        clock += length
        track.append(Viseme(viseme, start, round(clock, 3), phone, word, stressed))
    return track


# ----- visemes to ARKit mouth shapes ---------------------------------------------------------


def _both(name: str, weight: float) -> dict[str, float]:
    return {f"{name}Left": weight, f"{name}Right": weight}


# Measured on our head model (lip gap at the midline): jawOpen alone 0.5 parts the lips 17 mm;
# mouthClose closes them only *against* jawOpen (jawOpen 0.5 + mouthClose 0.5: 0 mm), and
# without jawOpen it pushes the lower lip 17 mm through the upper one at 0.5. So closed-lip
# visemes keep mouthClose at most a little above jawOpen and press with mouthPress/mouthRoll
# (PP below: lips pressed 4 mm together).
VISEME_SHAPES: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"mouthClose": 0.05, **_both("mouthPress", 0.5), "mouthRollLower": 0.3,
           "mouthRollUpper": 0.2},
    "FF": {"jawOpen": 0.1, "mouthRollLower": 0.6, **_both("mouthUpperUp", 0.25)},
    "TH": {"jawOpen": 0.15, "tongueOut": 0.4, **_both("mouthStretch", 0.1)},
    "DD": {"jawOpen": 0.15, **_both("mouthStretch", 0.15), **_both("mouthUpperUp", 0.1)},
    "kk": {"jawOpen": 0.22, **_both("mouthStretch", 0.1)},
    "CH": {"jawOpen": 0.12, "mouthFunnel": 0.45, "mouthPucker": 0.2,
           **_both("mouthUpperUp", 0.15), **_both("mouthLowerDown", 0.15)},
    "SS": {"jawOpen": 0.06, **_both("mouthStretch", 0.3), **_both("mouthUpperUp", 0.1),
           **_both("mouthLowerDown", 0.1)},
    "nn": {"jawOpen": 0.18, **_both("mouthStretch", 0.1)},
    "RR": {"jawOpen": 0.15, "mouthFunnel": 0.3, "mouthPucker": 0.25},
    "aa": {"jawOpen": 0.55, **_both("mouthLowerDown", 0.2), **_both("mouthStretch", 0.1)},
    "E": {"jawOpen": 0.3, **_both("mouthStretch", 0.35), **_both("mouthUpperUp", 0.1),
          **_both("mouthLowerDown", 0.15)},
    "ih": {"jawOpen": 0.18, **_both("mouthStretch", 0.3)},
    "oh": {"jawOpen": 0.35, "mouthFunnel": 0.55, "mouthPucker": 0.2},
    "ou": {"jawOpen": 0.12, "mouthPucker": 0.7, "mouthFunnel": 0.35},
}
MOUTH_TARGETS: tuple[str, ...] = tuple(sorted({n for s in VISEME_SHAPES.values() for n in s}))

# Share of a key's own shape (the rest goes to its spoken neighbours): tongue consonants
# borrow their lips from the vowels around them (the t in "boot" is rounded).
_OWN_SHARE = {"PP": 0.7, "FF": 0.7, "TH": 0.5, "DD": 0.5, "kk": 0.5, "CH": 0.6, "SS": 0.6,
              "nn": 0.5, "RR": 0.6}
_VOWEL_OWN_SHARE = 0.7
# m/b/p and f/v keep these of their own whatever the neighbours: the lips must close or meet
# the teeth even between two open vowels; only rounding and spreading carry across.
_CLOSURES = {"PP", "FF"}
_CARRIED_ACROSS_CLOSURES = {"mouthPucker", "mouthStretchLeft", "mouthStretchRight"}


def _shape_vector(viseme: str) -> np.ndarray:
    shape = VISEME_SHAPES[viseme]
    return np.array([shape.get(n, 0.0) for n in MOUTH_TARGETS], np.float64)


def mouth_keys(track: list[Viseme], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keyframes for LINEAR interpolation: times (K,) and weights (K, len(names)) in [0, 1].

    One key at each spoken viseme's centre, blending its shape with its spoken neighbours'
    (co-articulation), and keys at both ends of each silence so the mouth rests through it.
    Names the visemes do not use stay 0.
    """
    if not track:
        raise ValueError("the viseme track is empty")
    held = np.array([n not in _CARRIED_ACROSS_CLOSURES for n in MOUTH_TARGETS])
    times: list[float] = []
    shapes: list[np.ndarray] = []
    for i, seg in enumerate(track):
        if seg.viseme == "sil":
            times += [seg.start, seg.end]
            shapes += [_shape_vector("sil")] * 2
            continue
        own = _shape_vector(seg.viseme)
        neighbours = [_shape_vector(track[j].viseme) for j in (i - 1, i + 1)
                      if 0 <= j < len(track) and track[j].viseme != "sil"]
        spill = (1 - _OWN_SHARE.get(seg.viseme, _VOWEL_OWN_SHARE)) / 2
        shape = own * (1 - spill * len(neighbours)) + spill * sum(neighbours, np.zeros_like(own))
        if seg.viseme in _CLOSURES:
            shape[held] = own[held]
        times.append((seg.start + seg.end) / 2)
        shapes.append(shape)
    columns = {n: k for k, n in enumerate(MOUTH_TARGETS)}
    weights = np.zeros((len(times), len(names)), np.float32)
    for k, name in enumerate(names):
        if name in columns:
            weights[:, k] = [shape[columns[name]] for shape in shapes]
    return np.asarray(times, np.float32), np.clip(weights, 0.0, 1.0)


def visemes_json(text: str, track: list[Viseme]) -> dict:
    """The documented, viewer-independent viseme document (see the module docstring)."""
    spoken = [seg for seg in track if seg.viseme != "sil"]
    speaking_s = sum(seg.end - seg.start for seg in spoken)
    return {
        "format": "text2head-visemes",
        "version": 1,
        "text": check_line(text),
        "duration_s": round(track[-1].end, 3) if track else 0.0,
        "phonemes_per_second": round(len(spoken) / speaking_s, 2) if speaking_s else 0.0,
        "viseme_set": "oculus-15",
        "visemes": [{"viseme": seg.viseme, "start": round(seg.start, 3),
                     "end": round(seg.end, 3), "phoneme": seg.phoneme, "word": seg.word,
                     "stressed": seg.stressed} for seg in track],
    }
