"""Rich rendering of a turn's result, of a streaming answer and of the human-in-the-loop prompts."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from state.schema import OutputState

OUTPUT_FIELDS = tuple(name for name in OutputState.__annotations__ if name != "messages")
KNOWN_INTERRUPTS = ("approve_web_search", "clarify", "review_answer")
ANSWER_NODES = ("generate", "finalize")


def public_result(state: dict[str, Any]) -> dict[str, Any]:
    """The documented output fields of a final state, JSON-ready."""
    out = {key: state.get(key) for key in OUTPUT_FIELDS}
    out["errors"] = out["errors"] or []
    return out


def sources_table(citations: list[dict[str, Any]]) -> Table:
    """The citations as a "Sources" table (id, source, title, location)."""
    table = Table(title="Sources", show_lines=False, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("source")
    table.add_column("title")
    table.add_column("location", overflow="fold")
    for c in citations:
        table.add_row(
            f"[{c.get('id')}]",
            escape(str(c.get("source", ""))),
            escape(str(c.get("title", ""))),
            escape(str(c.get("location", ""))),
        )
    return table


def print_sources(console: Console, result: dict[str, Any]) -> None:
    """Citations, then the route and grade, under the answer."""
    citations = result.get("citations") or []
    if citations:
        console.print(sources_table(citations))
    route = result.get("route") or {}
    sources = ", ".join(route.get("sources") or []) or "-"
    checks = result.get("checks") or {}
    console.print(
        f"[dim]route: {route.get('decision')} · sources: {sources} · grade: "
        f"{result.get('grade') or '-'} · grounded: {checks.get('grounded', '-')} · "
        f"relevant: {checks.get('relevant', '-')}[/dim]"
    )
    for line in result.get("errors") or []:
        console.print(f"[yellow]! {escape(str(line))}[/yellow]")


def message_text(message: BaseMessage) -> str:
    """The text of a message or streamed chunk (text parts of a multi-part content joined)."""
    content = message.content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") if isinstance(p, dict) else str(p)
            for p in content
            if not isinstance(p, dict) or p.get("type", "text") == "text"
        )
    return str(content or "")


class AnswerStream:
    """Prints one turn's answer as it streams, and nothing else.

    Only the `generate` node's model tokens are printed, or the final `AIMessage` that
    `finalize` posts when no model streamed (the offline engine). Router, grader and checker
    output never reaches the screen; a message already printed, or already shown to the human
    in a prompt, is not printed again. A spinner runs until the first token.

    Example:
        >>> stream = AnswerStream(Console(force_terminal=False))
        >>> final = AIMessage("The fee is $20 [1].", id="a1")
        >>> stream.message(final, {"langgraph_node": "finalize"}); stream.finish(final.content)
        assistant> The fee is $20 [1].
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Any = None
        self._printed: dict[str, str] = {}
        self._current: str | None = None
        self._shown: set[str] = set()
        self._line_open = False

    def waiting(self, label: str = "thinking") -> None:
        """Show (or relabel) the spinner while nothing is printed (terminals only)."""
        if not self.console.is_terminal:
            return
        text = f"[dim]{escape(label)}…[/dim]"
        if self._status is None:
            self._status = self.console.status(text, spinner="dots")
            self._status.start()
        else:
            self._status.update(text)

    def progress(self, label: str) -> None:
        """Relabel the spinner, if it still runs (no token printed yet)."""
        if self._status is not None:
            self._status.update(f"[dim]{escape(label)}…[/dim]")

    def stop_waiting(self) -> None:
        """Remove the spinner (before printing anything else)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def message(self, message: BaseMessage, meta: dict[str, Any]) -> None:
        """Print the part of a streamed message the user should see, if any."""
        node = meta.get("langgraph_node")
        if node not in ANSWER_NODES or not isinstance(message, AIMessage):
            return
        if node == "finalize" and isinstance(message, AIMessageChunk):
            return
        text = message_text(message)
        key = str(message.id or id(message))
        if isinstance(message, AIMessageChunk):
            self._write(key, self._printed.get(key, "") + text)
        elif text.strip() not in self._shown:
            self._write(key, text)

    def seen(self, text: str) -> bool:
        """Whether ``text`` is already on screen (streamed, or shown in a prompt)."""
        return bool(text.strip()) and text.strip() in self._done()

    def prompted(self, shown: str = "") -> None:
        """A prompt interrupts the answer: end its line; ``shown`` (a draft) counts as seen."""
        self.end_line()
        self._current = None
        if shown.strip():
            self._shown.add(shown.strip())

    def finish(self, answer: str | None) -> None:
        """Print what the final ``answer`` adds to the streamed text (caveats), else nothing."""
        self.stop_waiting()
        answer = (answer or "").strip()
        streamed = self._printed.get(self._current or "", "").strip()
        if not answer or answer in {text.strip() for text in self._printed.values()}:
            pass
        elif answer in self._shown:
            self.console.print("[bold]assistant>[/bold] [dim](the draft above)[/dim]")
        elif streamed and answer.startswith(streamed):
            self._emit(answer[len(streamed) :])
        else:
            self._write("final", answer)
        self.end_line()

    def end_line(self) -> None:
        """Stop the spinner and end the answer's last line."""
        self.stop_waiting()
        if self._line_open:
            self.console.print()
            self._line_open = False

    def _done(self) -> set[str]:
        return {text.strip() for text in self._printed.values()} | self._shown

    def _write(self, key: str, text: str) -> None:
        """Bring message ``key`` on screen up to ``text`` (only the new part is printed)."""
        before = self._printed.get(key, "")
        if text == before or not text.strip():
            return
        self.stop_waiting()
        if key != self._current:
            if self._current is not None and self._printed.get(self._current, "").strip():
                self.end_line()
                self.console.print("[dim]revised answer:[/dim]")
            elif self._line_open:
                self.end_line()
            self.console.print("[bold]assistant>[/bold] ", end="")
            self._current = key
            before = ""
        new = text[len(before) :] if text.startswith(before) else "\n" + text
        self._printed[key] = text
        self._emit(new.lstrip() if not before else new)

    def _emit(self, text: str) -> None:
        if text:
            self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
            self._line_open = not text.endswith("\n")


def print_interrupt(console: Console, payload: Any) -> None:
    """Show what the graph asks the human; unknown payload types are shown as JSON."""
    if not isinstance(payload, dict) or payload.get("type") not in KNOWN_INTERRUPTS:
        console.print("[bold yellow]?[/bold yellow] the assistant needs your input:")
        console.print_json(json.dumps(payload, default=str))
        return
    question = escape(str(payload.get("question") or ""))
    console.print(f"[bold yellow]?[/bold yellow] {question}", highlight=False)
    for number, query in enumerate(payload.get("queries") or [], 1):
        console.print(f"  {number}. {escape(str(query))}", highlight=False)
    draft = payload.get("draft")
    if isinstance(draft, str) and draft.strip():
        console.print("[dim]draft:[/dim]")
        console.print(draft.strip(), markup=False, highlight=False)
    checks = payload.get("checks") or {}
    if checks:
        shown = " · ".join(f"{k}: {v}" for k, v in checks.items())
        console.print(f"[dim]checks: {escape(shown)}[/dim]", highlight=False)
    if payload.get("citations"):
        console.print(sources_table(payload["citations"]))


def print_threads(console: Console, threads: list[tuple[str, str, str]], current: str) -> None:
    """A table of ``(thread id, last activity, first question)`` rows; ``*`` marks ``current``."""
    if not threads:
        console.print("[dim]no saved threads yet[/dim]")
        return
    table = Table(title="Recent threads", title_justify="left")
    table.add_column("")
    table.add_column("thread")
    table.add_column("last activity")
    table.add_column("first question", overflow="ellipsis", no_wrap=True)
    for thread_id, updated, question in threads:
        table.add_row(
            "*" if thread_id == current else "",
            escape(thread_id),
            escape(updated),
            escape(question) or "[dim]-[/dim]",
        )
    console.print(table)
