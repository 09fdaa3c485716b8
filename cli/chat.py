"""The interactive chat: one thread at a time, answers streamed, the graph's questions asked.

A question runs the graph in a background thread while this one prints the answer's tokens,
so Ctrl-C stays responsive: it cancels the run (the thread is rolled back to where it was
before the question) and the session goes on. When the graph pauses with ``interrupt()``,
its payload is shown as a prompt and the run resumes with the human's reply.
"""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
import uuid
from contextlib import closing, suppress
from datetime import datetime
from typing import Any

from langgraph.types import Command
from rich.markup import escape

from cli.checks import MAX_QUESTION, is_utf8
from cli.console import console, err
from cli.render import AnswerStream, print_interrupt, print_sources, print_threads, public_result
from state.context import Context
from tools.base import one_line

try:  # line editing and history for input(), where available
    import readline
except ImportError:  # pragma: no cover - Windows
    readline = None

RECENT_THREADS = 10
THREAD_SCAN_LIMIT = 5_000
COMMANDS = {
    "/new": "start a new thread",
    "/threads": "list recent threads with their first question",
    "/thread": "show the current thread id",
    "/sources": "show the sources of the last answer again",
    "/help": "show this help",
    "/quit": "leave (also /exit or Ctrl-D)",
}
KEYS = {
    "Ctrl-C during an answer": "cancel it; the thread stays as it was before the question",
    "Ctrl-C at the prompt": "clear the line; a second Ctrl-C in a row leaves",
    "at a prompt from the assistant": "type one of the choices shown (or its first letters), "
    "or a JSON value; Ctrl-C cancels the question",
}
_ANSI = re.compile(r"(\x1b\[[0-9;]*m)")
_NOT_UTF8 = "[red]error:[/red] that line is not valid UTF-8 text: check the terminal's encoding"


def run_chat(app_graph: Any, ctx: Context, thread_id: str) -> None:
    """Chat in ``thread_id`` until /quit, Ctrl-D or two Ctrl-C in a row.

    Args:
        app_graph: The compiled graph, with a checkpointer (threads outlive the process).
        ctx: The run context passed to every run.
        thread_id: The thread to start in (new or continued).
    """
    ChatSession(app_graph, ctx, thread_id).run()


class _Run:
    """One graph run streamed from a background thread into a queue.

    ``cancel()`` makes the run stop at its next step boundary; a node already waiting on the
    network finishes first (a thread cannot be killed), which ``wait()`` waits for.
    """

    def __init__(self, app_graph: Any, payload: Any, config: dict, ctx: Context) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(app_graph, payload, config, ctx), daemon=True
        )
        self._thread.start()

    def _work(self, app_graph: Any, payload: Any, config: dict, ctx: Context) -> None:
        try:
            stream = app_graph.stream(
                payload, config, context=ctx, stream_mode=["messages", "updates"]
            )
            with closing(stream):
                for mode, data in stream:
                    if self._cancelled.is_set():
                        return
                    if mode == "messages":
                        self.events.put(("message", data))
                    else:
                        self.events.put(("step", [n for n in data if not n.startswith("__")]))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self.events.put(("error", exc))
        else:
            self.events.put(("done", None))

    def __iter__(self):
        """The run's events, until it ends (an error is raised here)."""
        while True:
            try:  # a timed wait stays interruptible by Ctrl-C on every platform
                kind, data = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "done":
                return
            if kind == "error":
                raise data
            yield kind, data

    def cancel(self) -> None:
        """Ask the run to stop at its next step."""
        self._cancelled.set()

    @property
    def running(self) -> bool:
        """Whether the background thread is still working."""
        return self._thread.is_alive()

    def wait(self) -> None:
        """Wait until the background thread has stopped (interruptible with Ctrl-C)."""
        while self._thread.is_alive():
            self._thread.join(0.1)


class _Cancelled(Exception):
    """The human cancelled the question (Ctrl-C during the run, or at a prompt)."""


class ChatSession:
    """The state of one chat session: the graph, the current thread, the last answer."""

    def __init__(self, app_graph: Any, ctx: Context, thread_id: str) -> None:
        self.graph = app_graph
        self.ctx = ctx
        self.thread_id = thread_id
        self.last_result: dict[str, Any] | None = None
        self._rollback: tuple[_Run | None, str, str | None] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The run config of the current thread."""
        return {"configurable": {"thread_id": self.thread_id}}

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Read and answer lines until the human leaves."""
        self._enter_thread(self.thread_id)
        console.print(
            f"[bold]agentic-rag chat[/bold] · thread [cyan]{self.thread_id}[/cyan]"
            f"{self._history_note()}\n[dim]commands: {' '.join(COMMANDS)} · "
            "Ctrl-C cancels an answer[/dim]",
            highlight=False,
        )
        with suppress(KeyboardInterrupt):
            self._resume_pending()
        interrupted = False
        while True:
            self._settle(block=False)
            try:
                line = self._read("[bold green]you> [/bold green]")
            except EOFError:
                console.print()
                break
            except UnicodeDecodeError:
                err.print(_NOT_UTF8, highlight=False)
                continue
            except KeyboardInterrupt:
                if interrupted:
                    console.print()
                    break
                console.print("\n[dim](Ctrl-C again or /quit to leave)[/dim]", highlight=False)
                interrupted = True
                continue
            interrupted = False
            try:
                if not self._handle(line):
                    break
            except KeyboardInterrupt:  # while printing: the answer is complete, stop showing it
                console.print("\n[yellow]cancelled[/yellow]")
        with suppress(KeyboardInterrupt):
            self._settle(block=True)
        console.print(
            f"[dim]bye · continue with: agentic-rag chat --thread {self.thread_id}[/dim]",
            highlight=False,
        )

    def _handle(self, line: str) -> bool:
        """Answer a question or run a /command; False means leave."""
        if not is_utf8(line):
            err.print(_NOT_UTF8, highlight=False)
            return True
        line = "".join(ch for ch in line if ch.isprintable() or ch == "\t").strip()
        if line.startswith("/"):
            try:
                return self._command(line)
            except Exception as exc:  # noqa: BLE001 - a failed command keeps the session
                err.print(f"[red]error:[/red] {escape(_one_line(exc))}", highlight=False)
        elif len(line) > MAX_QUESTION:
            err.print(f"[red]error:[/red] the question is longer than {MAX_QUESTION:,} chars")
        elif line:
            self._ask({"messages": [("user", line)]})
        return True

    def _read(self, prompt: str) -> str:
        """One line from the human; the prompt is marked up for readline's width count."""
        with console.capture() as capture:
            console.print(prompt, end="", highlight=False)
        text = capture.get()
        if readline is not None and sys.stdin.isatty():
            text = _ANSI.sub("\001\\1\002", text)
        return input(text)

    def _command(self, line: str) -> bool:
        """Run a /command; False means leave."""
        name = line.split()[0].lower()
        if name in ("/quit", "/exit"):
            return False
        if name == "/new":
            self._enter_thread(uuid.uuid4().hex[:12])
            console.print(f"new thread [cyan]{self.thread_id}[/cyan]", highlight=False)
        elif name == "/thread":
            console.print(f"thread [cyan]{self.thread_id}[/cyan]", highlight=False)
        elif name == "/threads":
            print_threads(console, self._recent_threads(), self.thread_id)
        elif name == "/sources":
            if self.last_result and self.last_result.get("answer"):
                print_sources(console, self.last_result)
            else:
                console.print("[dim]no answer in this thread yet[/dim]")
        elif name == "/help":
            self._help()
        else:
            console.print(
                f"[yellow]unknown command {escape(name)}[/yellow] · /help lists the commands",
                highlight=False,
            )
        return True

    def _help(self) -> None:
        for name, text in COMMANDS.items():
            console.print(f"  [bold]{name:<10}[/bold] {text}", highlight=False)
        for key, text in KEYS.items():
            console.print(f"  [bold]{key}[/bold]: {text}", highlight=False)

    # -- a question, streamed, with the graph's questions in between ----------------------

    def _ask(self, payload: Any) -> None:
        """Run one question (with its interrupts) and print the answer and its sources."""
        answer = AnswerStream(console)
        run: _Run | None = None
        started, before = False, None
        try:
            self._settle(block=self._rollback is not None and self._rollback[1] == self.thread_id)
            before, started = self._checkpoint_id(), True
            while True:
                run = _Run(self.graph, payload, self.config, self.ctx)
                self._stream(run, answer)
                run = None
                interrupts = self._interrupts()
                if not interrupts:
                    break
                payload = Command(resume=self._replies(interrupts, answer))
            state = self.graph.get_state(self.config).values
        except (KeyboardInterrupt, _Cancelled):
            answer.end_line()
            if run is not None:
                run.cancel()
            console.print("[yellow]cancelled[/yellow]")
            self._roll_back(run, before, started)
            return
        except Exception as exc:  # noqa: BLE001 - the session survives any failed run
            answer.end_line()
            err.print(f"[red]error:[/red] {escape(_one_line(exc))}", highlight=False)
            self._roll_back(None, before, started)
            return
        self.last_result = public_result(state)
        answer.finish(self.last_result.get("answer"))
        print_sources(console, self.last_result)

    def _stream(self, run: _Run, answer: AnswerStream) -> None:
        """Print the run's answer tokens until it ends (or pauses)."""
        answer.waiting()
        for kind, data in run:
            if kind == "message":
                answer.message(*data)
            elif data:
                answer.progress(f"thinking · {', '.join(data)}")
        answer.end_line()

    def _interrupts(self) -> list[Any]:
        """The interrupts the current thread is paused on (none when it is not paused)."""
        snapshot = self.graph.get_state(self.config)
        if not snapshot.next:
            return []
        return [item for task in snapshot.tasks for item in task.interrupts]

    def _replies(self, interrupts: list[Any], answer: AnswerStream) -> Any:
        """The resume value: one reply, or ``{interrupt id: reply}`` for several at once."""
        replies = {}
        for item in interrupts:
            payload = item.value
            draft = payload.get("draft") if isinstance(payload, dict) else None
            if isinstance(draft, str) and answer.seen(draft):
                payload = {**payload, "draft": "(the answer above)"}
            answer.prompted(draft if isinstance(draft, str) else "")
            print_interrupt(console, payload)
            replies[item.id] = self._reply(item.value)
        return next(iter(replies.values())) if len(replies) == 1 else replies

    def _reply(self, payload: Any) -> Any:
        """Ask the human until the reply fits the payload's ``allowed`` actions (or is JSON)."""
        raw = payload.get("allowed") if isinstance(payload, dict) else None
        allowed = [str(a) for a in raw] if isinstance(raw, list) else []
        free_text = allowed == ["answer"]
        choices = "your answer" if free_text else " / ".join(allowed) or "a JSON value"
        while True:
            text = self._prompt_line(f"[bold yellow]{escape(choices)}> [/bold yellow]")
            if not text:
                continue
            if text.startswith(("{", "[", '"')):
                try:
                    return json.loads(text)
                except ValueError:
                    console.print("[yellow]that is not valid JSON[/yellow]")
                    continue
            if free_text:
                return {"action": "answer", "answer": text}
            if not allowed:
                return text
            action = _choose(text, allowed)
            if action is None:
                console.print(f"[yellow]type one of: {escape(', '.join(allowed))}[/yellow]")
                continue
            return self._complete(action, payload)

    def _complete(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The reply for ``action``, asking for the text an ``edit`` or ``answer`` carries."""
        if action == "edit" and payload.get("queries"):
            queries = [self._edit_line("query> ", str(q)) for q in payload["queries"]]
            return {"action": "edit", "queries": [q for q in queries if q]}
        if action in ("edit", "answer"):
            while not (text := self._prompt_line(f"[bold yellow]{action}> [/bold yellow]")):
                pass
            return {"action": action, "answer": text}
        return {"action": action}

    def _prompt_line(self, prompt: str) -> str:
        """A line typed at a prompt of the assistant; Ctrl-C or Ctrl-D cancel the question."""
        while True:
            try:
                line: str | None = self._read(prompt).strip()
            except UnicodeDecodeError:
                line = None
            except (KeyboardInterrupt, EOFError) as exc:
                console.print()
                raise _Cancelled from exc
            if line is not None and is_utf8(line):
                return line
            err.print(_NOT_UTF8, highlight=False)

    def _edit_line(self, prompt: str, current: str) -> str:
        """``current`` offered for editing (readline), empty input keeping it."""
        if readline is not None:
            readline.set_startup_hook(lambda: readline.insert_text(current))
        else:
            console.print(f"[dim]{escape(current)} (Enter keeps it)[/dim]")
        try:
            return self._prompt_line(f"[bold yellow]{prompt}[/bold yellow]") or current
        finally:
            if readline is not None:
                readline.set_startup_hook()

    def _resume_pending(self) -> None:
        """A continued thread left paused on a question: ask it again now."""
        try:
            interrupts = self._interrupts()
        except Exception:  # noqa: BLE001 - an unreadable thread is reported by the next run
            return
        if interrupts:
            console.print("[dim]this thread is waiting for your reply:[/dim]")
            try:
                value = self._replies(interrupts, AnswerStream(console))
            except _Cancelled:
                console.print("[dim]left unanswered; a new question replaces it[/dim]")
                return
            self._ask(Command(resume=value))

    # -- cancellation -----------------------------------------------------------------------

    def _checkpoint_id(self) -> str | None:
        """The current thread's latest checkpoint id (None for a new thread)."""
        snapshot = self.graph.get_state(self.config)
        return snapshot.config.get("configurable", {}).get("checkpoint_id")

    def _roll_back(self, run: _Run | None, before: str | None, started: bool) -> None:
        """Undo a cancelled or failed run: now, or once ``run`` has stopped."""
        if started:
            self._rollback = (run, self.thread_id, before)
            self._settle(block=False)

    def _settle(self, *, block: bool) -> None:
        """Roll a cancelled or failed run's thread back, once its run has stopped."""
        if self._rollback is None:
            return
        run, thread_id, before = self._rollback
        if run is not None and run.running:
            if not block:
                return
            console.print("[dim]waiting for the cancelled run to stop…[/dim]")
            run.wait()
        self._rollback = None
        try:
            if before is None:
                self.graph.checkpointer.delete_thread(thread_id)
            else:
                config = {"configurable": {"thread_id": thread_id, "checkpoint_id": before}}
                self.graph.update_state(config, None, as_node="__copy__")
        except Exception as exc:  # noqa: BLE001 - the next question discards the run anyway
            err.print(f"[red]error:[/red] could not roll back: {escape(_one_line(exc))}")

    # -- threads ----------------------------------------------------------------------------

    def _enter_thread(self, thread_id: str) -> None:
        """Make ``thread_id`` current; its last answer becomes the one /sources shows."""
        self.thread_id = thread_id
        self.last_result = None
        with suppress(Exception):
            values = self.graph.get_state(self.config).values
            if values.get("answer"):
                self.last_result = public_result(values)

    def _history_note(self) -> str:
        try:
            messages = self.graph.get_state(self.config).values.get("messages") or []
        except Exception:  # noqa: BLE001
            return ""
        questions = sum(1 for m in messages if getattr(m, "type", "") == "human")
        return f" (continued: {questions} earlier question(s))" if questions else " (new)"

    def _recent_threads(self) -> list[tuple[str, str, str]]:
        """Up to `RECENT_THREADS` threads, newest first: id, last activity, first question.

        Only the checkpoints that start a turn are read (their pending writes hold the
        question), newest first and at most `THREAD_SCAN_LIMIT` of them.
        """
        saver = self.graph.checkpointer
        found: dict[str, list[str]] = {}
        with closing(saver.list(None, filter={"source": "input"})) as checkpoints:
            for scanned, item in enumerate(checkpoints):
                if scanned >= THREAD_SCAN_LIMIT:
                    break
                conf = item.config["configurable"]
                if conf.get("checkpoint_ns"):
                    continue
                thread = conf["thread_id"]
                if thread not in found:
                    if len(found) >= RECENT_THREADS:
                        continue
                    found[thread] = [_local_time(item.checkpoint.get("ts")), ""]
                question = _question_of(item.pending_writes or [])
                if question:
                    found[thread][1] = question
        return [(thread, ts, question) for thread, (ts, question) in found.items()]


def _choose(text: str, allowed: list[str]) -> str | None:
    """The action ``text`` names: exact, a unique prefix, or yes/no for approve-like actions.

    Example:
        >>> [_choose(t, ["approve", "edit", "refuse"]) for t in ("A", "yes", "n", "x")]
        ['approve', 'approve', 'refuse', None]
    """
    word = text.lower()
    aliases = {"y": ("approve", "accept"), "yes": ("approve", "accept")}
    aliases |= {"n": ("refuse", "reject"), "no": ("refuse", "reject")}
    for action in aliases.get(word, ()):
        if action in allowed:
            return action
    matches = [a for a in allowed if a.lower().startswith(word)]
    exact = [a for a in allowed if a.lower() == word]
    return (exact or matches)[0] if len(exact or matches) == 1 else None


def _question_of(writes: list[tuple[str, str, Any]]) -> str:
    """The human text of a turn's input writes, on one line (empty when there is none).

    Example:
        >>> _question_of([("t1", "messages", [["user", "What is  the fee?"]])])
        'What is the fee?'
    """
    for _, channel, value in writes:
        if channel != "messages":
            continue
        for message in value if isinstance(value, list) else [value]:
            if isinstance(message, list | tuple) and len(message) == 2:
                role, text = message
            elif isinstance(message, dict):
                role, text = message.get("role", "user"), message.get("content", "")
            else:
                role, text = getattr(message, "type", ""), getattr(message, "content", "")
            if role in ("user", "human") and isinstance(text, str) and text.strip():
                return " ".join(text.split())
    return ""


def _local_time(timestamp: Any) -> str:
    """An ISO timestamp as local ``YYYY-MM-DD HH:MM`` (as given when it cannot be read)."""
    try:
        return datetime.fromisoformat(str(timestamp)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(timestamp or "")


def _one_line(exc: BaseException) -> str:
    text = one_line(exc, 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
