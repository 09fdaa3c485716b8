"""Finishing a run that stopped before its end: a crash, a kill -9, a lost checkpointer.

Every step a run completes is checkpointed, so the thread keeps the steps done before the
stop, and the nodes still to run are the snapshot's ``next``. ``invoke(None, config)``
continues from there: completed nodes are not run again (LangGraph also keeps the writes of
the parallel tasks that finished in the interrupted step). A new question on such a thread
starts a new turn instead, and the unfinished one is dropped.

Example:
    >>> continue_args("t1", None, None) is None
    True
"""

from __future__ import annotations

from typing import Any, NoReturn

from rich.markup import escape

from cli.console import fail


def continue_args(thread: str | None, question: str | None, resume: str | None) -> None:
    """Check the arguments of ``ask --continue`` (a thread, no question, no --resume).

    Returns:
        None: the graph input that continues a thread from its last checkpoint.
    """
    if not thread or question or resume is not None:
        fail("--continue finishes a thread's stopped run: pass --thread ID, no question")


def check_unfinished(app_graph: Any, config: dict[str, Any], thread_id: str) -> None:
    """Fail with the reason when ``thread_id`` has no run to finish."""
    snapshot = app_graph.get_state(config)
    if not snapshot.values:
        fail(f"thread {thread_id!r} does not exist")
    if snapshot.interrupts:
        fail(f"thread {thread_id!r} is waiting for an answer: use --resume")
    if not snapshot.next:
        fail(f"thread {thread_id!r} has no unfinished run: its last run ended normally")


def run_failed(exc: BaseException, thread_id: str) -> NoReturn:
    """Exit 1 with one line: what failed, and how to finish the run once it works again."""
    fail(
        f"{escape(str(exc))}; thread {thread_id!r} keeps its completed steps: finish the run "
        f"with `agentic-rag ask --thread {thread_id} --continue`",
        code=1,
    )
