"""Use the graph from Python: a thread, streaming, an interrupt and its resume, a follow-up.

Run after `make demo` (it builds the index in ./.agentic-rag):

    .venv/bin/python examples/python_thread.py [--data-dir .agentic-rag]
"""

from __future__ import annotations

import argparse
import sqlite3
import uuid

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from graphs import build_graph
from state import Context
from tools.memory import memory_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=".agentic-rag")
    args = parser.parse_args()

    conn = sqlite3.connect(f"{args.data_dir}/example-threads.sqlite", check_same_thread=False)
    app = build_graph(checkpointer=SqliteSaver(conn), store=InMemoryStore(index=memory_index()))
    ctx = Context(data_dir=args.data_dir, user_id="example-user")
    config = {"configurable": {"thread_id": f"example-{uuid.uuid4().hex[:8]}"}}

    # 1. An ambiguous first message: the graph pauses and asks one question.
    app.invoke({"messages": [("user", "How much does it cost?")]}, config, context=ctx)
    (pending,) = app.get_state(config).interrupts
    print(f"interrupt: {pending.value['type']}: {pending.value['question']}")

    # 2. Resume with the human's answer; stream the updates as the graph works.
    answer = "the early closure fee for a Bronze savings account"
    for update in app.stream(Command(resume=answer), config, context=ctx, stream_mode="updates"):
        print("node:", ", ".join(update))
    state = app.get_state(config).values
    print("answer:", state["answer"])
    for citation in state["citations"]:
        print(f"  [{citation['id']}] {citation['title']} ({citation['location']})")

    # 3. A follow-up in the same thread is resolved against its history.
    out = app.invoke(
        {"messages": [("user", "And what about the Silver account?")]}, config, context=ctx
    )
    print("follow-up query:", app.get_state(config).values["query"])
    print("follow-up answer:", out["answer"])
    print("messages in thread:", len(app.get_state(config).values["messages"]))
    conn.close()


if __name__ == "__main__":
    main()
