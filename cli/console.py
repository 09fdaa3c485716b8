"""The consoles every command prints to, and the one way a command fails."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from tools.redact import redact

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (secrets redacted) to stderr and exit with ``code`` (2: bad
    input)."""
    err.print(f"[red]error:[/red] {redact(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)
