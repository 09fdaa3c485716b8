"""What the checkpointer and the memory-store openers share: one spec syntax, safe names.

Both take ``sqlite`` (a default file under the data directory), ``sqlite:PATH``, ``memory`` or
a ``postgres://`` / ``postgresql://`` URL, and never show a password in a message.
"""

from __future__ import annotations

from pathlib import Path

PG_SCHEMES = ("postgres://", "postgresql://")
CONNECT_TIMEOUT = 10


def parse_spec(
    spec: str, default_file: str, data_dir: str, what: str, forms: str
) -> tuple[str, str]:
    """Resolve a spec to ``(kind, target)``; ``kind`` is sqlite, memory or postgres.

    Raises:
        ValueError: Not one of the valid forms (a URL is named by its scheme only).

    Example:
        >>> parse_spec("sqlite", "x.sqlite", "/data", "store", "sqlite | memory")
        ('sqlite', '/data/x.sqlite')
        >>> parse_spec("redis://u:pw@h", "x.sqlite", "/d", "store", "sqlite")
        Traceback (most recent call last):
        ValueError: invalid store spec (a redis:// URL): use sqlite
    """
    text = spec.strip()
    lowered = text.lower()
    if lowered in ("", "sqlite"):
        return "sqlite", str(Path(data_dir).expanduser() / default_file)
    if lowered == "memory":
        return "memory", ""
    if lowered.startswith("sqlite:"):
        path = text[len("sqlite:") :].strip()
        if path:
            return "sqlite", path if path == ":memory:" else str(Path(path).expanduser())
    elif lowered.startswith(PG_SCHEMES):
        return "postgres", text
    shown = f"(a {text.split('://')[0][:20]}:// URL)" if "://" in text else repr(text)
    raise ValueError(f"invalid {what} spec {shown}: use {forms}")


def pg_params(url: str, what: str, forms: str) -> dict[str, str]:
    """Connection parameters of a postgres URL, with a default ``connect_timeout``.

    Raises:
        ImportError: psycopg is not installed.
        ValueError: The URL is malformed (psycopg's own message would repeat the password).
    """
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except Error:
        raise ValueError(f"invalid postgres URL in the {what} spec: use {forms}") from None
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    return params


def describe_target(kind: str, target: str, params: dict[str, str] | None) -> str:
    """A printable name for a resolved spec, without the password.

    Example:
        >>> describe_target("postgres", "", {"user": "bob", "host": "db", "dbname": "app"})
        'postgresql://bob@db/app'
    """
    if kind != "postgres":
        return f"sqlite:{target}" if kind == "sqlite" else kind
    if params is None:
        return "postgresql://?"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def one_line(exc: BaseException, secret: str = "") -> str:
    """An exception's message on one line, with ``secret`` masked.

    Example:
        >>> one_line(RuntimeError("bad\\npassword pw1"), secret="pw1")
        'bad password ***'
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(secret, "***") if secret else text
