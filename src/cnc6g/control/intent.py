"""Service logic for a request given in words: match the intent against the catalogue (BM25).

Okapi BM25 (Robertson and Zaragoza, 2009) over each active service's name, category,
description and step functions, with the usual ``k1 = 1.2`` and ``b = 0.75``. A match is taken
only when it is clear: its score beats the next one by :data:`MARGIN`; otherwise the caller gets
the candidates with their scores, never a silent guess.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

K1 = 1.2
B = 0.75
MARGIN = 1.25
"""How much the best score must beat the second to be taken without asking."""

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (names like ``llm-translate`` give ``llm`` and ``translate``)."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Match:
    """A candidate service and its score."""

    key: str
    score: float


def bm25(query: str, documents: dict[str, str]) -> list[Match]:
    """BM25 scores of every document for ``query``, best first (zero scores left out)."""
    docs = {key: tokens(text) for key, text in documents.items()}
    if not docs:
        return []
    n = len(docs)
    avg = sum(len(d) for d in docs.values()) / n or 1.0
    df: Counter[str] = Counter()
    for words in docs.values():
        df.update(set(words))
    terms = tokens(query)
    out = []
    for key, words in docs.items():
        tf = Counter(words)
        score = 0.0
        for term in terms:
            if term not in tf:
                continue
            idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
            f = tf[term]
            score += idf * f * (K1 + 1) / (f + K1 * (1 - B + B * len(words) / avg))
        if score > 0:
            out.append(Match(key, score))
    return sorted(out, key=lambda m: (-m.score, m.key))


def clear_winner(matches: list[Match]) -> Match | None:
    """The best match when it is clear (beats the next by :data:`MARGIN`), else None."""
    if not matches:
        return None
    if len(matches) == 1 or matches[0].score >= MARGIN * matches[1].score:
        return matches[0]
    return None
