"""Asking the human: one `interrupt()` with a JSON payload any client can render.

Every payload has a ``type``, the ``question`` for the human and the ``allowed`` actions.
A client resumes with ``Command(resume={"action": <one of allowed>, ...})``; a bare string
naming an action is accepted too (``Command(resume="approve")``).
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

MAX_TEXT = 2000


def ask_human(kind: str, question: str, allowed: list[str], **details: Any) -> dict[str, Any]:
    """Pause the run until the human answers; return the resume value, normalised.

    Call it at most once per node, before anything irreversible: a resumed node re-runs
    from its start and `interrupt` then returns the human's answer.

    Args:
        kind: The payload ``type`` (``approve_web_search``, ``clarify``, ``review_answer``).
        question: What the human is asked.
        allowed: The actions the human may take; the first is used for free text when the
            only action carries text (``answer``).
        **details: Extra payload fields (the queries, the draft, ...).

    Returns:
        ``{"action": ..., **fields}`` with ``action`` in ``allowed``, or
        ``{"action": None, "error": "<why the resume value was not understood>"}``.
    """
    value = interrupt({"type": kind, "question": question, "allowed": allowed, **details})
    return parse_resume(value, allowed)


def parse_resume(value: Any, allowed: list[str]) -> dict[str, Any]:
    """Normalise a resume value; never raises.

    Example:
        >>> parse_resume("Approve", ["approve", "refuse"])
        {'action': 'approve'}
        >>> parse_resume({"action": "edit", "queries": ["x"]}, ["approve", "edit"])
        {'action': 'edit', 'queries': ['x']}
        >>> parse_resume("Bronze account", ["answer"])
        {'action': 'answer', 'answer': 'Bronze account'}
        >>> parse_resume(42, ["approve"])["error"]
        'expected one of approve (or {"action": ...}), got 42'
    """
    if isinstance(value, str):
        text = " ".join(value.split())[:MAX_TEXT]
        if text.lower() in allowed:
            return {"action": text.lower()}
        if allowed == ["answer"] and text:
            return {"action": "answer", "answer": text}
    elif isinstance(value, dict) and str(value.get("action", "")).lower() in allowed:
        return {**value, "action": str(value["action"]).lower()}
    shown = repr(value) if not isinstance(value, str) else repr(value[:80])
    return {
        "action": None,
        "error": f'expected one of {", ".join(allowed)} (or {{"action": ...}}), got {shown}',
    }


def resume_problem(value: Any, payload: Any) -> str | None:
    """Why ``value`` would not be understood as the answer to the interrupt ``payload``
    (None when it would): a client can refuse it before resuming, leaving the run paused.

    Example:
        >>> web = {"type": "approve_web_search", "allowed": ["approve", "edit", "refuse"]}
        >>> resume_problem("approve", web) is None
        True
        >>> resume_problem({"action": "edit"}, web)
        'an edit needs the new "queries"'
        >>> resume_problem("aprove", web)
        'expected one of approve, edit, refuse (or {"action": ...}), got \\'aprove\\''
    """
    raw = payload.get("allowed") if isinstance(payload, dict) else None
    allowed = [str(a) for a in raw] if isinstance(raw, list) else []
    if not allowed:
        return None
    reply = parse_resume(value, allowed)
    action = reply["action"]
    if action is None:
        return reply["error"]
    if action == "edit" and payload.get("type") == "approve_web_search":
        return None if edited_queries(reply, 10) else 'an edit needs the new "queries"'
    if action in ("edit", "answer") and not text_field(reply, "answer"):
        return f'"{action}" needs the text in "answer"'
    return None


def text_field(reply: dict[str, Any], name: str) -> str:
    """A reply's text field on one line, bounded; empty when missing or not text."""
    value = reply.get(name)
    return " ".join(value.split())[:MAX_TEXT] if isinstance(value, str) else ""


def edited_queries(reply: dict[str, Any], limit: int, max_chars: int = 300) -> list[str]:
    """The queries of an ``edit`` reply (``queries`` list, or one ``query``), at most ``limit``.

    Example:
        >>> edited_queries({"action": "edit", "queries": [" rates  news ", "", 7]}, 2)
        ['rates news']
    """
    raw = reply.get("queries")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raw = [reply.get("query")]
    queries = [text_field({"q": q}, "q")[:max_chars] for q in raw]
    return list(dict.fromkeys(q for q in queries if q))[: max(limit, 1)]
