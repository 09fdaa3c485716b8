"""The one retriever interface all four sources implement."""

from __future__ import annotations

from typing import Any, Protocol

from state.context import Context
from state.document import Doc, SourceName


def one_line(value: object, limit: int = 200) -> str:
    r"""Text collapsed to one line and cut to ``limit`` characters (for user-facing errors).

    Example:
        >>> one_line("HTTP 500\n  Internal   error")
        'HTTP 500 Internal error'
    """
    line = " ".join(str(value).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_transport_error(
    exc: BaseException, service: str, url_setting: str, timeout: float
) -> str | None:
    """The one-line reason for a `requests` transport failure, or None for other errors.

    Example:
        >>> import requests
        >>> describe_transport_error(requests.exceptions.ReadTimeout(), "Tavily", "X_URL", 2.0)
        'Tavily did not answer within 2 s'
    """
    import requests

    errors = requests.exceptions
    if isinstance(exc, errors.Timeout):
        return f"{service} did not answer within {timeout:g} s"
    if isinstance(exc, errors.ConnectionError):
        return f"could not connect to {service}"
    if isinstance(exc, errors.InvalidURL | errors.MissingSchema):
        return f"{url_setting} is not a valid URL"
    if isinstance(exc, errors.RequestException):
        return f"request to {service} failed ({type(exc).__name__})"
    return None


class SourceError(RuntimeError):
    """A source failed; the message is one line, safe to show to the user."""


class Retriever(Protocol):
    """A knowledge source the graph can fan out to.

    Example:
        >>> class Echo:
        ...     name = "vectorstore"
        ...     def unavailable(self, ctx, store=None): return None
        ...     def retrieve(self, query, ctx, *, k, store=None): return []
    """

    name: SourceName

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Why the source cannot be used now (missing key, disabled, no store), or None."""
        ...

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Return up to ``k`` documents for ``query``; raise `SourceError` on failure."""
        ...
