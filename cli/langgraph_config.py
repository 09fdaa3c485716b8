"""Checks of a ``langgraph.json`` before ``agentic-rag serve`` hands it to ``langgraph dev``.

``langgraph dev`` reports a broken config with a traceback, or only once a request reaches the
graph; here each problem is one line naming the file and the setting.

Example:
    >>> config_problem({"graphs": {"agentic_rag": 5}}, Path("."))
    "graphs.agentic_rag must be 'path/to/file.py:attribute', got 5"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GRAPH_ID = "agentic_rag"
TTL_STRATEGIES = ("delete", "keep_latest")


def read_config(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(config, None)``, or ``(None, why)`` when ``path`` is not a readable JSON object."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"{path} cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, f"{path} is not valid UTF-8"
    except json.JSONDecodeError as exc:
        return (
            None,
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
        )
    if not isinstance(config, dict):
        return None, f"{path} must hold a JSON object, got {type(config).__name__}"
    return config, None


def nearest_config(start: Path) -> Path | None:
    """The first ``langgraph.json`` in ``start`` or its parents."""
    for folder in (start, *start.parents):
        if (folder / "langgraph.json").is_file():
            return folder / "langgraph.json"
    return None


def _file_ref(value: Any, name: str, root: Path) -> str | None:
    """Why ``value`` is not ``path.py:attribute`` naming an existing file under ``root``."""
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        return f"{name} must be 'path/to/file.py:attribute', got {value!r}"
    file = value.split(":")[0]
    if file.endswith(".py") and not (root / file).is_file():
        return f"{name} points to {file}, which does not exist"
    return None


def _ttl_problem(ttl: Any, name: str) -> str | None:
    if not isinstance(ttl, dict):
        return f"{name} must be an object, got {ttl!r}"
    for key in ("default_ttl", "sweep_interval_minutes"):
        value = ttl.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return f"{name}.{key} must be a non-negative number, got {value!r}"
    if "strategy" in ttl and ttl["strategy"] not in TTL_STRATEGIES:
        return (
            f"{name}.strategy must be one of {', '.join(TTL_STRATEGIES)}, got {ttl['strategy']!r}"
        )
    return None


def _store_problem(store: dict[str, Any], root: Path) -> str | None:
    index = store.get("index")
    if index is not None:
        if not isinstance(index, dict):
            return f"store.index must be an object, got {index!r}"
        dims = index.get("dims")
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            return f"store.index.dims must be a positive integer, got {dims!r}"
        fields = index.get("fields", ["$"])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            return f"store.index.fields must be a list of field names, got {fields!r}"
        embed = index.get("embed")
        if isinstance(embed, str) and ".py:" in embed:
            return _file_ref(embed, "store.index.embed", root)
        if not isinstance(embed, str):
            return f"store.index.embed must be a string, got {embed!r}"
    return _ttl_problem(store["ttl"], "store.ttl") if "ttl" in store else None


def config_problem(config: dict[str, Any], root: Path) -> str | None:
    """What is wrong with a parsed ``langgraph.json`` whose folder is ``root`` (None: nothing
    this project relies on)."""
    checks = (_graphs_problem, _deps_problem, _sections_problem, _cli_problem)
    return next((problem for check in checks if (problem := check(config, root))), None)


def _graphs_problem(config: dict[str, Any], root: Path) -> str | None:
    graphs = config.get("graphs")
    if not isinstance(graphs, dict) or GRAPH_ID not in graphs:
        return f"graphs must be an object naming graph {GRAPH_ID!r}"
    return _file_ref(graphs[GRAPH_ID], f"graphs.{GRAPH_ID}", root)


def _deps_problem(config: dict[str, Any], root: Path) -> str | None:
    deps = config.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        return f"dependencies must be a list of strings, got {deps!r}"
    return None


def _sections_problem(config: dict[str, Any], root: Path) -> str | None:
    for name in ("store", "checkpointer", "auth"):
        if name in config and not isinstance(config[name], dict):
            return f"{name} must be an object, got {config[name]!r}"
    if "store" in config and (problem := _store_problem(config["store"], root)):
        return problem
    ttl = config.get("checkpointer", {}).get("ttl")
    if ttl is not None and (problem := _ttl_problem(ttl, "checkpointer.ttl")):
        return problem
    if "path" in config.get("auth", {}):
        return _file_ref(config["auth"]["path"], "auth.path", root)
    env = config.get("env")
    if env is not None and not isinstance(env, str | dict):
        return f"env must be a file name or an object, got {env!r}"
    return None


def _cli_problem(config: dict[str, Any], root: Path) -> str | None:
    """What ``langgraph_cli`` itself rejects (Python version, API version, ...)."""
    try:
        from langgraph_cli.config import validate_config
    except ImportError:
        return None
    try:
        validate_config(config, source_path=root / "langgraph.json")
    except Exception as exc:  # noqa: BLE001 - click.UsageError, ValueError, TypeError alike
        return " ".join(str(exc).split()) or type(exc).__name__
    return None
