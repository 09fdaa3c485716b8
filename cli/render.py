"""Rich rendering of a turn's result."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from state.schema import OutputState

OUTPUT_FIELDS = tuple(name for name in OutputState.__annotations__ if name != "messages")


def public_result(state: dict[str, Any]) -> dict[str, Any]:
    """The documented output fields of a final state, JSON-ready."""
    out = {key: state.get(key) for key in OUTPUT_FIELDS}
    out["errors"] = out["errors"] or []
    return out


def print_sources(console: Console, result: dict[str, Any]) -> None:
    """Citations, then the route and grade, under the answer."""
    citations = result.get("citations") or []
    if citations:
        table = Table(title="Sources", show_lines=False, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("source")
        table.add_column("title")
        table.add_column("location", overflow="fold")
        for c in citations:
            table.add_row(f"[{c['id']}]", c["source"], c["title"], c["location"])
        console.print(table)
    route = result.get("route") or {}
    sources = ", ".join(route.get("sources") or []) or "-"
    checks = result.get("checks") or {}
    console.print(
        f"[dim]route: {route.get('decision')} · sources: {sources} · grade: "
        f"{result.get('grade') or '-'} · grounded: {checks.get('grounded', '-')} · "
        f"relevant: {checks.get('relevant', '-')}[/dim]"
    )
    for line in result.get("errors") or []:
        console.print(f"[yellow]! {line}[/yellow]")
