"""Names across scripts. Every name is compared in Latin letters: transliterated with
anyascii (a maintained table covering Cyrillic, Arabic, Greek, Han...), lowercased, without
punctuation. Each word also gets its consonant skeleton (vowels dropped, doubled letters
merged), because Arabic and Hebrew write names without their short vowels: محمد gives "mhmd",
which is what "Mohammed" and "Muhammad" become too.

Similarity is pg_trgm's (trigrams of each word padded with two spaces in front and one
behind): PostgreSQL computes it in SQL, `similarity` and `word_similarity` below compute the
same thing for SQLite and for the duplicate suggestions."""

from __future__ import annotations

import re

from anyascii import anyascii

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_VOWELS = re.compile(r"[aeiouy]")
_DOUBLED = re.compile(r"(.)\1+")


def latin(name: str) -> str:
    """The name in Latin letters, as a reader would write it (case kept)."""
    return " ".join(anyascii(name).split())


def words(name: str) -> list[str]:
    """Lowercase Latin words; hyphens and apostrophes join (al-Hassan, O'Brien)."""
    text = anyascii(name).lower().replace("-", "").replace("'", "")
    return [w for w in _NOT_WORD.split(text) if w]


def skeleton(word: str) -> str:
    bare = _DOUBLED.sub(r"\1", _VOWELS.sub("", word))
    return bare or word


def key(name: str) -> str:
    """What the index stores for a name: its words, then their skeletons."""
    found = words(name)
    bones = [skeleton(w) for w in found]
    # Written without vowels already (Arabic, Hebrew): the skeletons are the words.
    return " ".join(found if bones == found else found + bones)


def query_keys(text: str) -> tuple[str, str]:
    """The words of a query and their skeletons, each matched against `key`s; empty when
    shorter than a trigram's worth of letters, which would match a large share of all names
    ("mr", the skeleton of Omar, is in thousands)."""
    found = words(text)
    latin_words = " ".join(found) if sum(len(w) for w in found) >= 3 else ""
    bones = [b for b in (skeleton(w) for w in found) if len(b) >= 3]
    return latin_words, " ".join(bones)


def trigrams(text: str) -> set[str]:
    grams: set[str] = set()
    for word in _NOT_WORD.split(text.lower()):
        if word:
            padded = f"  {word} "
            grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


def similarity(a: str, b: str) -> float:
    """pg_trgm similarity(a, b): shared trigrams over all trigrams of both."""
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def word_similarity(query: str, text: str) -> float:
    """Close to pg_trgm word_similarity(query, text): the share of the query's trigrams found
    in the best run of consecutive words of `text` (runs as long as the query)."""
    tq = trigrams(query)
    if not tq:
        return 0.0
    tokens = [w for w in _NOT_WORD.split(text.lower()) if w]
    span = max(1, len(query.split()))
    best = 0
    for size in range(1, span + 1):
        for start in range(len(tokens) - size + 1):
            best = max(best, len(tq & trigrams(" ".join(tokens[start:start + size]))))
    return best / len(tq)
