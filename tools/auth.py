"""Optional bearer-token auth for the LangGraph server (``langgraph.json`` ``auth.path``).

``AGENTIC_RAG_AUTH_TOKENS="token1:alice,token2:bob"`` turns it on: every request needs
``Authorization: Bearer <token>`` (401 otherwise) and the token's user is the caller's identity.

- Threads, runs and crons are owned: created ones get ``metadata.owner = <user>`` and every
  read, search, update, delete and run is filtered on it, so one user never sees (404) or
  continues another user's thread.
- Runs execute as the caller: ``user_id`` in the run's context (and ``configurable``) is
  replaced by the identity, whatever the client sent, so long-term memory
  (``("memories", user_id)``) and anything else keyed on ``user_id`` is the caller's own.
- The store API only serves the caller's memories: namespaces under ``("memories", <user>)``;
  shorter prefixes are narrowed to it, any other namespace is refused (403).
- Assistants (the graph's configuration presets) are readable by every authenticated user;
  the ones a user creates are owned like threads.

Without ``AGENTIC_RAG_AUTH_TOKENS`` the handlers let everything through unchanged (user id from
the context as sent) -- but only on the local dev server (``langgraph dev``) or when
``AGENTIC_RAG_AUTH_OPEN=true`` says so explicitly. Anywhere else (a Docker image, a Platform
deployment) a missing token list refuses every request: a custom auth handler replaces the
platform's own API-key check, so "no tokens" must not silently mean "public".

Example:
    >>> parse_tokens("t1:alice, t2:bob")
    {'t1': 'alice', 't2': 'bob'}
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

TOKENS_ENV = "AGENTIC_RAG_AUTH_TOKENS"
OPEN_ENV = "AGENTIC_RAG_AUTH_OPEN"
OWNER = "owner"
MEMORY_NAMESPACE = "memories"
ANONYMOUS = "anonymous"

auth = Auth()


def parse_tokens(raw: str | None) -> dict[str, str]:
    """``"token:user,token:user"`` as ``{token: user}``; empty or unset gives ``{}``.

    Raises:
        ValueError: An entry is not ``token:user``, or a token appears twice.

    Example:
        >>> parse_tokens("")
        {}
    """
    tokens: dict[str, str] = {}
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        token, sep, user = entry.partition(":")
        token, user = token.strip(), user.strip()
        if not sep or not token or not user:
            raise ValueError(f"{TOKENS_ENV}: entries must look like 'token:user'")
        if token in tokens:
            raise ValueError(f"{TOKENS_ENV}: a token is listed twice")
        tokens[token] = user
    return tokens


def _tokens(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return parse_tokens(environ.get(TOKENS_ENV))


def auth_required(environ: Mapping[str, str] = os.environ) -> bool:
    """True when ``AGENTIC_RAG_AUTH_TOKENS`` lists at least one token."""
    return bool(_tokens(environ))


def open_access_allowed(environ: Mapping[str, str] = os.environ) -> bool:
    """Without tokens: open on ``langgraph dev``, or when ``AGENTIC_RAG_AUTH_OPEN`` is true."""
    if environ.get(OPEN_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return environ.get("LANGSMITH_LANGGRAPH_API_VARIANT") == "local_dev"


_tokens()  # a malformed AGENTIC_RAG_AUTH_TOKENS stops the server at startup


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(
        status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The user of the request's bearer token (or anonymous when auth is off)."""
    tokens = _tokens()
    if not tokens:
        if open_access_allowed():
            return {"identity": ANONYMOUS, "permissions": []}
        raise _unauthorized(
            f"authentication is not configured: set {TOKENS_ENV}, or {OPEN_ENV}=true for "
            "open access"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    token = token.strip().encode()
    user = None
    for known, name in tokens.items():  # compare with every token, in constant time
        if hmac.compare_digest(known.encode(), token):
            user = name
    if user is None:
        raise _unauthorized("invalid token")
    return {"identity": user, "permissions": []}


def _own(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Stamp the owner on what is created or updated; filter everything on the owner."""
    if not auth_required():
        return None
    owner = ctx.user.identity
    if ctx.action in {"create", "create_run", "update"} and isinstance(value, dict):
        _set(value, "metadata", OWNER, owner)
    return {OWNER: owner}


def _set(parent: dict[str, Any], name: str, key: str, item: Any) -> None:
    """``parent[name][key] = item``, in place: the server keeps references to these dicts."""
    child = parent.get(name)
    if isinstance(child, dict):
        child[key] = item
    else:
        parent[name] = {key: item}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Threads, runs and crons belong to their creator."""
    return _own(ctx, value)


@auth.on.threads.create_run
async def run_as_caller(
    ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create_run.value
) -> Auth.types.FilterType | None:
    """Only the owner runs on a thread, and the run's ``user_id`` is the caller's identity.

    ``value["kwargs"]`` is the run's own payload (the server builds the run from it after
    this handler), so the identity written here is what the graph reads as
    ``runtime.context.user_id``.
    """
    filters = _own(ctx, value)
    if filters is None:
        return None
    kwargs = value.get("kwargs")
    if isinstance(kwargs, dict):
        _set(kwargs, "context", "user_id", filters[OWNER])
        configurable = (kwargs.get("config") or {}).get("configurable")
        if isinstance(configurable, dict) and "user_id" in configurable:
            configurable["user_id"] = filters[OWNER]  # the mirrored copy of the context
    return filters


@auth.on.assistants
async def shared_assistants(
    ctx: Auth.types.AuthContext, value: Any
) -> Auth.types.FilterType | None:
    """Every user reads the assistants; one a user creates is theirs to change or delete."""
    if ctx.action in {"read", "search"}:
        return None
    return _own(ctx, value)


@auth.on.store
async def own_memories(ctx: Auth.types.AuthContext, value: Any) -> None:
    """The store API serves only ``("memories", <caller>, ...)``."""
    if not auth_required():
        return None
    mine = (MEMORY_NAMESPACE, ctx.user.identity)
    namespace = tuple(value.get("namespace") or ())
    if namespace[:2] == mine:
        return None
    if ctx.action in {"search", "list_namespaces"} and mine[: len(namespace)] == namespace:
        value["namespace"] = mine  # a prefix of the caller's namespace: narrow it
        return None
    raise Auth.exceptions.HTTPException(
        status_code=403, detail="only your own memories (namespace ['memories', <you>])"
    )
