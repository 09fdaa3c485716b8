"""Secrets kept out of every message the program shows or stores.

A provider or proxy may echo the API key it was sent in an error body, and that text ends up
in an exception's message, then in a one-line error (``errors`` in the state, so in the
checkpoint; the CLI's ``error:`` line). `redact` replaces, in any text:

- the value of every environment variable that holds a secret (its name ends in ``API_KEY``,
  ``TOKEN(S)``, ``SECRET`` or ``PASSWORD``; ``AGENTIC_RAG_AUTH_TOKENS`` token by token), when it
  is at least `MIN_SECRET` characters long (shorter values would redact ordinary words);
- bearer credentials (``Bearer <token>``, a token with a digit) and the password of a URL
  (``scheme://user:pw@``).

Example:
    >>> redact("401: Incorrect API key sk-abcdefgh1234", {"OPENAI_API_KEY": "sk-abcdefgh1234"})
    '401: Incorrect API key ***'
    >>> redact("Authorization: Bearer abc.def.ghi-123", {})
    'Authorization: Bearer ***'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

REDACTED = "***"  # as `tools.remote_errors.mask`; not Rich markup, so no console drops it
MIN_SECRET = 8
AUTH_TOKENS_ENV = "AGENTIC_RAG_AUTH_TOKENS"
_SECRET_NAME = re.compile(r"(API_?KEY|TOKENS?|SECRET|PASSWORD)$", re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?=\S*[0-9])[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@", re.IGNORECASE)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values of ``environ`` (default: the process environment), longest first.

    Example:
        >>> secret_values({"TAVILY_API_KEY": "tvly-12345678", "HOME": "/root", "X_TOKEN": "x"})
        ['tvly-12345678']
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not _SECRET_NAME.search(name):
            continue
        parts = [value]
        if name == AUTH_TOKENS_ENV:
            parts += [entry.partition(":")[0] for entry in value.split(",")]
        found.update(p.strip() for p in parts if len(p.strip()) >= MIN_SECRET)
    return sorted(found, key=len, reverse=True)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with secrets replaced by ``***`` (see the module docstring)."""
    for value in secret_values(environ):
        text = text.replace(value, REDACTED)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
