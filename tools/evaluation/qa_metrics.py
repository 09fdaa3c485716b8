"""Answer metrics for extractive QA: SQuAD's normalisation, EM, F1, gold containment, citations.

`normalize_answer`, `exact_match` and `f1_score` follow the official SQuAD v1.1 evaluation
script (lower case, ASCII punctuation removed, articles ``a/an/the`` removed, whitespace
collapsed; best score over the gold answers). The graph's answers are scored on `answer_text`:
the answer without the extractive ``PREFIX`` line, list dashes, ``[n]`` citation markers and
the ``…`` of shortened sentences, i.e. the cited sentences joined with spaces, and without the
caveats ``finalize`` appends after a blank line (`strip_caveats`).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_MARKER = re.compile(r"\s*\[\d{1,3}\]")
_BULLET = re.compile(r"^\s*[-*•]\s+")
CAVEAT_OPENINGS = (
    "Caveat:",
    "Retrieval was ",
    "Web search ",
    "No source could be searched",
    "The knowledge base was not searched",
)
"""How the notes and caveats `nodes.finalize` appends to an answer begin."""


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower, drop punctuation and articles, collapse whitespace.

    Example:
        >>> normalize_answer("The  Denver Broncos!")
        'denver broncos'
    """
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    Example:
        >>> exact_match("the Broncos.", ["Broncos", "Denver Broncos"])
        1.0
    """
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Iterable[str]) -> float:
    """SQuAD's token F1, the best over the gold answers (0.0 when there are none).

    Example:
        >>> round(f1_score("Denver Broncos won", ["Denver Broncos"]), 3)
        0.8
    """
    return max((_f1(prediction, g) for g in golds), default=0.0)


def contains_gold(prediction: str, golds: Iterable[str]) -> bool:
    """Whether a normalised gold answer occurs in the normalised prediction as whole tokens.

    Token boundaries are kept ("1" is not found in "10"); golds that normalise to nothing
    (e.g. "the") are ignored.

    Example:
        >>> contains_gold("They won 24-10 in 2016.", ["2016", "24"])
        True
        >>> contains_gold("They won in 2016.", ["201"])
        False
    """
    text = f" {normalize_answer(prediction)} "
    return any(g and f" {g} " in text for g in map(normalize_answer, golds))


def strip_caveats(answer: str) -> str:
    """The answer without the trailing blocks of notes and caveats `finalize` appends.

    A trailing block (after a blank line) is dropped when it cites nothing and each of its
    lines begins like a caveat (`CAVEAT_OPENINGS`).

    Example:
        >>> strip_caveats("It is $5 [1].\\n\\nCaveat: this answer may not fully address it.")
        'It is $5 [1].'
    """
    blocks = answer.strip().split("\n\n")
    while len(blocks) > 1:
        lines = [line.strip() for line in blocks[-1].splitlines() if line.strip()]
        if _MARKER.search(blocks[-1]) or not all(
            line.startswith(CAVEAT_OPENINGS) for line in lines
        ):
            break
        blocks.pop()
    return "\n\n".join(blocks).strip()


def is_abstention(answer: str, not_found: str) -> bool:
    """Whether the answer (caveats aside) is the abstention text.

    Example:
        >>> is_abstention("Not found.\\n\\nRetrieval was incorrect and ...", "Not found.")
        True
    """
    return bool(not_found) and strip_caveats(answer) == not_found.strip()


def answer_text(answer: str, prefix: str = "", not_found: str = "") -> str:
    """The answer's own words: caveats, ``prefix`` line, dashes, ``[n]`` markers and ``…``
    removed.

    Args:
        answer: The graph's answer.
        prefix: The extractive answer's first line (dropped when present).
        not_found: The abstention text; an abstention has no answer text.

    Example:
        >>> answer_text("Intro:\\n- Fee is $5. [1]\\n- Long one … [2]", prefix="Intro:")
        'Fee is $5. Long one'
    """
    if is_abstention(answer, not_found):
        return ""
    lines = []
    for line in strip_caveats(answer).splitlines():
        if prefix and line.strip() == prefix:
            continue
        line = _MARKER.sub("", _BULLET.sub("", line)).strip()
        if line.endswith("…"):
            line = line[:-1].rstrip()
        if line:
            lines.append(line)
    return " ".join(lines)


def citation_key(citation: dict[str, Any]) -> str | None:
    """The corpus document key of a knowledge-base citation (``corpus/p00012.md § T`` gives
    ``p00012``), or None for other sources.

    Example:
        >>> citation_key({"source": "vectorstore", "location": "corpus/p00012.md § Normans"})
        'p00012'
    """
    if citation.get("source") != "vectorstore":
        return None
    path = str(citation.get("location") or "").split(" § ")[0].strip()
    return Path(path).stem or None


def citation_support(
    citations: Sequence[dict[str, Any]],
    golds: Sequence[str],
    own_key: str,
    texts: dict[str, str],
) -> tuple[float | None, bool]:
    """Citation precision of one answer, and whether it cites the question's own paragraph.

    A cited source counts as supporting when it is the question's own paragraph or when its
    full text (the corpus paragraph, else the citation's snippet) contains a gold answer (see
    `contains_gold`). Citations of the same paragraph count once.

    Args:
        citations: The answer's citations (``source``, ``location``, ``snippet``).
        golds: The gold answers.
        own_key: The key of the paragraph the question was written from.
        texts: Corpus paragraph text by key.

    Returns:
        ``(precision, own)``: precision is None when nothing is cited.

    Example:
        >>> cites = [{"source": "vectorstore", "location": "corpus/p1.md"},
        ...          {"source": "vectorstore", "location": "corpus/p2.md"}]
        >>> citation_support(cites, ["Paris"], "p9", {"p1": "In Paris.", "p2": "Rome."})
        (0.5, False)
    """
    sources: dict[str, str] = {}
    for cite in citations:
        key = citation_key(cite)
        name = key if key is not None else f"snippet:{cite.get('snippet', '')}"
        sources.setdefault(name, texts.get(key, "") if key else str(cite.get("snippet", "")))
    if not sources:
        return None, False
    good = sum(1 for k, text in sources.items() if k == own_key or contains_gold(text, golds))
    return good / len(sources), own_key in sources


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (0.0 for no values).

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None (None when there are none).

    Example:
        >>> mean([1.0, None, 0.0])
        0.5
    """
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
