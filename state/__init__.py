"""State schemas, the document shape and the run-time `Context`."""

from state.context import Context, get_context
from state.document import SOURCES, Doc, make_doc
from state.schema import InputState, OutputState, RetrieveTask, State

__all__ = [
    "SOURCES",
    "Context",
    "Doc",
    "InputState",
    "OutputState",
    "RetrieveTask",
    "State",
    "get_context",
    "make_doc",
]
