"""Graph state: a narrow input, the working state, and the output users read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from state.document import Doc
from state.reducers import extend_or_reset, merge_usage

Decision = Literal["none", "single", "multi", "clarify"]
Grade = Literal["correct", "ambiguous", "incorrect"]


class Citation(TypedDict):
    id: int
    source: str
    title: str
    location: str
    snippet: str


class InputState(TypedDict):
    """What a caller sends: the chat messages (the latest one is the question)."""

    messages: Annotated[list[AnyMessage], add_messages]


class OutputState(TypedDict, total=False):
    """What a caller reads after a turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    citations: list[Citation]
    route: dict[str, Any]
    grade: Grade | None
    checks: dict[str, Any]
    trace: Annotated[list[str], extend_or_reset]
    usage: Annotated[dict[str, Any], merge_usage]
    errors: Annotated[list[str], extend_or_reset]
    thread_id: str | None
    remembered: list[str]


class State(InputState, total=False):
    """The working state. Per-turn fields are reset by `rewrite_query` on each new turn.

    Budgets (``rewrites``, ``generations``, ``web_searches``) count what this turn spent;
    the limits live in the `Context`.
    """

    turn_id: str
    question: str
    query: str
    plan: dict[str, Any]
    decision: Decision
    sub_questions: list[str]
    route: dict[str, Any]
    documents: Annotated[list[Doc], extend_or_reset]
    errors: Annotated[list[str], extend_or_reset]
    grades: list[dict[str, Any]]
    grade: Grade | None
    fallback: bool
    context_docs: list[Doc]
    answer: str
    answer_id: str | None
    citations: list[Citation]
    checks: dict[str, Any]
    notes: Annotated[list[str], extend_or_reset]
    remembered: list[str]
    rewrites: int
    generations: int
    web_searches: int
    trace: Annotated[list[str], extend_or_reset]
    usage: Annotated[dict[str, Any], merge_usage]
    thread_id: str | None


OUTPUT_FIELDS: frozenset[str] = frozenset(OutputState.__annotations__)
"""The fields a caller reads after a turn."""


class RetrieveTask(TypedDict):
    """The payload `Send` hands to one parallel `retrieve` call."""

    query: str
    source: str
