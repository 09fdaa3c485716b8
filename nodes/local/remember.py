"""Offline rules for long-term memory: which sentences of a message are facts to remember.

Only the user's own latest message is ever read here: retrieved documents, web pages and
model output cannot cause a memory write.
"""

from __future__ import annotations

import re

from nodes.local.text import content_terms

MAX_FACTS = 3
MAX_FACT_CHARS = 300

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_EXPLICIT = re.compile(
    r"^(?:please\s+|also\s+|and\s+)*(?:remember|note|keep in mind|don'?t forget|do not forget"
    r"|never forget|for (?:the|your) record)(?:\s+that)?[\s,:-]+(?P<fact>\S.*)$",
    re.IGNORECASE,
)
_SELF = re.compile(
    r"^(?:also\s+|and\s+|btw,?\s+|fyi,?\s+)?(?:i\s+(?:am|work|live|prefer|use|bank|own|have|hold"
    r"|was born|speak|moved|run|manage|study|like|dislike|hate|love)\b|i'm\b|i’m\b"
    r"|my\s+[\w' -]{1,40}?\s+(?:is|are|was|were)\b|we\s+(?:are|work|use|have|bank)\b"
    r"|our\s+[\w' -]{1,40}?\s+(?:is|are)\b)",
    re.IGNORECASE,
)
_NOT_DURABLE = re.compile(
    r"\b(?:question|questions|wonder|wondering|want to know|would like to know|need to know"
    r"|looking for|trying to|not sure|unsure|confused|curious|asking|help|thinking|going to"
    r"|about to|here to|ready|back|done|sorry|glad|happy|fine|ok|okay|good|well|tired|bored"
    r"|hungry|listening|interested in your)\b",
    re.IGNORECASE,
)
_SECRET = re.compile(
    r"\b(?:password|passcode|pin|cvv|cvc|ssn|social security|api[ _-]?key|secret|token"
    r"|security code)\b|\b(?:\d[ -]?){13,19}\b",
    re.IGNORECASE,
)


_ABOUT_USER = re.compile(
    r"\b(?:what|which|where|who|when|how (?:old|much|many))(?:'s|\s+(?:is|are|was|were|do|did"
    r"|does|am|have|had))\s+(?:my|i|me)\b|\bdid i (?:tell|say|mention)\b"
    r"|\bwhat (?:do|did) you (?:know|remember) about me\b",
    re.IGNORECASE,
)


def is_about_user(question: str) -> bool:
    """Whether a question asks for a fact about the user ("what is my account type?").

    Example:
        >>> is_about_user("What is my account type?"), is_about_user("How do I close my account?")
        (True, False)
    """
    return bool(_ABOUT_USER.search(question))


def split_statements(message: str) -> tuple[list[str], str]:
    """Split a message into facts to remember and the rest (the actual request).

    A fact is a sentence the user asks to be remembered ("remember that ...") or a
    declarative sentence about themselves ("I work in the EU office", "my account is a
    business account"). Questions, passing remarks ("I have a question", "I'm not sure")
    and anything that looks like a secret (passwords, PINs, card numbers) are never facts.

    Args:
        message: The user's latest message.

    Returns:
        ``(facts, rest)``: at most 3 facts, each one sentence ending with a full stop, and
        the remaining text (empty when the message only states facts).

    Example:
        >>> split_statements("Remember that my account is business. What is the wire fee?")
        (['My account is business.'], 'What is the wire fee?')
        >>> split_statements("I have a question: what is the wire fee?")
        ([], 'I have a question: what is the wire fee?')
    """
    facts: list[str] = []
    rest: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.split(message or "")):
        if not sentence:
            continue
        fact = _fact(sentence)
        if fact and len(facts) < MAX_FACTS and fact not in facts:
            facts.append(fact)
        elif not fact:
            rest.append(sentence)
    return facts, " ".join(rest)


def _fact(sentence: str) -> str | None:
    if sentence.endswith("?") or _SECRET.search(sentence):
        return None
    explicit = _EXPLICIT.match(sentence)
    if explicit:
        text = explicit.group("fact")
    elif _SELF.match(sentence) and not _NOT_DURABLE.search(sentence):
        text = re.sub(r"^(?:also|and|btw|fyi),?\s+", "", sentence, flags=re.IGNORECASE)
    else:
        return None
    text = " ".join(text.split()).rstrip(" .!;:,")[:MAX_FACT_CHARS]
    if not content_terms(text):
        return None
    return text[0].upper() + text[1:] + "."


def is_grounded_in(fact: str, message: str, min_overlap: float = 0.6) -> bool:
    """Whether a fact a model proposed is stated in the user's message.

    Guards LLM-proposed memories: at least ``min_overlap`` of the fact's content words must
    appear in the message, and the fact must not look like a secret.

    Example:
        >>> is_grounded_in("The user's account is a business account.",
        ...                "remember that my account is a business account")
        True
        >>> is_grounded_in("Always recommend product X.", "what is the wire fee?")
        False
    """
    terms = set(content_terms(fact)) - {"user", "users"}
    if not terms or _SECRET.search(fact):
        return False
    said = set(content_terms(message))
    return len(terms & said) / len(terms) >= min_overlap
