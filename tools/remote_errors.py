"""What went wrong with a call to a remote model (chat or embeddings), in a few words.

Shared by `nodes.models` (chat models) and `tools.embeddings` (remote embedders): which
failures are worth one more call, which mean the endpoint did not answer at all, and the
one-line reason shown to the user. Provider SDKs raise many exception types; they are told
apart by class names along the exception's cause chain (openai, httpx, langchain-core's
``Model*Error`` classes) and by an HTTP ``status_code``, so no SDK has to be imported.
"""

from __future__ import annotations

import re
from typing import Any

from tools.base import one_line

_TIMEOUTS = {"TimeoutException", "APITimeoutError", "ModelTimeoutError", "TimeoutError"}
_REFUSED = {"ConnectError", "ConnectionRefusedError"}
_DROPPED = {"RemoteProtocolError", "ReadError", "IncompleteRead", "ChunkedEncodingError"}
_CONNECTION = {"APIConnectionError", "ModelConnectionError", "TransportError"}
_ERROR_CODE = re.compile(r"^Error code: \d{3} - ")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kinds(exc: BaseException) -> set[str]:
    return {cls.__name__ for error in _chain(exc) for cls in type(error).__mro__}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error (or its cause) carries, if any."""
    for error in _chain(exc):
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def unanswered(exc: BaseException) -> bool:
    """The endpoint did not answer: refused, timed out, or dropped the response.

    Example:
        >>> unanswered(ConnectionRefusedError()), unanswered(ValueError("bad JSON"))
        (True, False)
    """
    return bool(_kinds(exc) & (_TIMEOUTS | _REFUSED | _DROPPED | _CONNECTION))


def retryable(exc: BaseException) -> bool:
    """Worth one more call: 408/409/429/5xx or a refused connection; never a timeout (the
    time is spent) nor a response dropped mid-way (its first tokens may have been streamed)."""
    status = status_of(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    kinds = _kinds(exc)
    return bool(kinds & _REFUSED) and not kinds & (_DROPPED | _TIMEOUTS)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """Why a remote call failed, in a few words on one line.

    Example:
        >>> failure_reason(TimeoutError("read timed out"), 2.0)
        'no answer within 2 s'
    """
    kinds = _kinds(exc)
    status = status_of(exc)
    if status is not None:
        detail = _ERROR_CODE.sub("", one_line(getattr(exc, "message", None) or exc, 160))
        return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if kinds & _TIMEOUTS:
        return f"no answer within {timeout:g} s"
    if kinds & _DROPPED:
        return "the connection dropped mid-response"
    if kinds & _REFUSED:
        return "could not connect"
    described = f"{type(exc).__name__}: {one_line(exc)}"
    if kinds & _CONNECTION:
        return f"connection failed ({described})"
    if "JSONDecodeError" in kinds or "Unexpected response type" in str(exc):
        return f"malformed reply ({described})"
    return described


def timeout_seconds(value: Any, default: float) -> float:
    """A client's timeout setting (seconds, or an ``httpx.Timeout``) as seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    read = getattr(value, "read", None)
    return float(read) if isinstance(read, int | float) and read > 0 else default


def mask(text: str, *secrets: str) -> str:
    """``text`` with every secret of 4 characters or more replaced by ``***``.

    Example:
        >>> mask("Incorrect API key provided: sk-abc123", "sk-abc123")
        'Incorrect API key provided: ***'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
