"""What the user types, checked before anything is stored: one clear line, exit 2, otherwise.

Arguments reach Python with undecodable bytes as lone surrogates (``surrogateescape``); such
text cannot be stored in a checkpoint, a memory or an index, so it is refused up front.

Example:
    >>> check_question("  What is the fee?\\x07 ")
    'What is the fee?'
    >>> is_utf8("caf\\udce9")
    False
"""

from __future__ import annotations

from cli.console import fail

MAX_QUESTION = 20_000
MAX_THREAD_ID = 200
_UTF8_HINT = "check the terminal's encoding (LANG/LC_ALL)"


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(text: str, what: str) -> str:
    """``text`` unchanged, or exit 2 when it is not valid UTF-8."""
    if not is_utf8(text):
        fail(f"{what} is not valid UTF-8 text: {_UTF8_HINT}")
    return text


def printable(text: str) -> str:
    """``text`` without control characters (tabs and newlines kept), stripped."""
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t").strip()


def check_question(question: str) -> str:
    """The question without control characters; exit 2 when it is empty, too long or not
    UTF-8."""
    cleaned = printable(check_text(question, "the question"))
    if not cleaned:
        fail("the question is empty")
    if len(cleaned) > MAX_QUESTION:
        fail(f"the question is {len(cleaned):,} characters long; the limit is {MAX_QUESTION:,}")
    return cleaned


def check_thread_id(thread: str) -> str:
    """A thread id as given; exit 2 when it is empty, too long, not UTF-8 or has control
    characters."""
    check_text(thread, "the thread id")
    if not thread.strip():
        fail("the thread id is empty")
    if len(thread) > MAX_THREAD_ID:
        fail(f"the thread id is longer than {MAX_THREAD_ID} characters")
    if not thread.isprintable():
        fail(f"the thread id {thread!r} contains control characters")
    return thread
