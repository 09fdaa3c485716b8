"""The one retriever interface all four sources implement."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from state.context import Context
from state.document import Doc, SourceName
from tools.redact import redact

RETRY_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.5

T = TypeVar("T")


def one_line(value: object, limit: int = 200) -> str:
    r"""Text collapsed to one line, secrets redacted (`tools.redact`), cut to ``limit``
    characters (for user-facing errors).

    Example:
        >>> one_line("HTTP 500\n  Internal   error")
        'HTTP 500 Internal error'
    """
    line = redact(" ".join(str(value).split()))
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
    if isinstance(exc, errors.Timeout) or "Read timed out" in str(exc):
        return f"{service} did not answer within {timeout:g} s"
    if isinstance(exc, errors.ChunkedEncodingError):
        return f"the connection to {service} dropped mid-response"
    if isinstance(exc, errors.ConnectionError):
        return f"could not connect to {service}"
    if isinstance(exc, errors.InvalidURL | errors.MissingSchema):
        return f"{url_setting} is not a valid URL"
    if isinstance(exc, errors.RequestException):
        return f"request to {service} failed ({type(exc).__name__})"
    return None


def with_retries(
    call: Callable[[], T],
    *,
    retryable: Callable[[Exception], bool],
    deadline_seconds: float,
    attempts: int | None = None,
    backoff: float | None = None,
    min_pause: float = 0.0,
) -> T:
    """Return ``call()``, retrying the failures ``retryable`` accepts, with exponential backoff.

    The pause before retry ``n`` (1-based) is ``max(min_pause, backoff * 2 ** (n - 1))``. A retry
    is only started if its pause ends within ``deadline_seconds`` of the first call; otherwise the
    last error is raised. The total time is thus at most ``deadline_seconds`` plus one call.

    Args:
        call: The operation; it is called again, unchanged, for each attempt.
        retryable: Whether an error is worth retrying (e.g. HTTP 429 and 5xx, never 4xx).
        deadline_seconds: Latest start of a retry, in seconds after the first call.
        attempts: Maximum number of calls; defaults to `RETRY_ATTEMPTS`.
        backoff: Pause before the first retry; defaults to `RETRY_BACKOFF_SECONDS`.
        min_pause: Minimum pause between calls (e.g. a service's politeness delay).

    Raises:
        Exception: The last error of ``call``, unchanged.

    Example:
        >>> replies = iter([ConnectionError("busy"), "ok"])
        >>> def flaky():
        ...     reply = next(replies)
        ...     if isinstance(reply, Exception):
        ...         raise reply
        ...     return reply
        >>> with_retries(flaky, retryable=lambda e: True, deadline_seconds=1, backoff=0)
        'ok'
    """
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    backoff = RETRY_BACKOFF_SECONDS if backoff is None else backoff
    start = time.monotonic()
    attempt = 1
    while True:
        try:
            return call()
        except Exception as exc:
            pause = max(min_pause, backoff * 2 ** (attempt - 1))
            late = time.monotonic() - start + pause > deadline_seconds
            if attempt >= attempts or late or not retryable(exc):
                raise
        time.sleep(pause)
        attempt += 1


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
