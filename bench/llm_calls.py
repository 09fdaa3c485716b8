"""LLM calls per answered question: this graph vs the LangGraph CRAG tutorial, same questions.

Both systems run on the same questions over the same real index (the first 40 tau2-bench
banking documents, ingested with `tools.ingest.ingest_paths`), retrieve the same 4 chunks per
question with the project's vector-store retriever, and talk to fake chat models that behave
the same way for both:

- relevance: a chunk is relevant when its text (the first 1,200 characters, what our grader
  is shown) holds at least half of the question's stemmed content terms (`is_relevant`). Our
  grader model turns that into a score (0.9 or 0.1) for every document in ONE call; the
  tutorial's grader answers ``yes``/``no`` once PER document.
- router (ours only): a single-retrieval plan over the knowledge base whose query is the
  question itself, so both systems search with the same query and get the same chunks.
- question rewriter (tutorial only): the question's keywords.
- generator: the context sentence sharing most terms with the question, cited as ``[n]``
  for ours (our prompt numbers the documents), or "I don't know." when none shares a term.
- web search: both systems get the same stub returning one fixed document
  (`bench.baselines.crag_tutorial.stub_web_search`); ours reaches it through the ``web``
  source, patched in this process, so its CRAG web fallback is available as in the tutorial.

Every call goes through a counting wrapper (`RuleChatModel`), per role. Our answer checker
stays at its default (``local``: no LLM call, but a failed check costs the rewrites and
regenerations it triggers). A question is *answered* when the system's final answer is not
an abstention; calls per answered question = all calls / answered questions.

Three configurations of this graph are measured: every role an LLM (router, grader,
generator) with the defaults, where plain questions skip the router model
(`Context.router_skip_plain`); every role an LLM with the router consulted on every question;
and the local (rule-based) router with an LLM grader and generator.

Usage:
    .venv/bin/python bench/llm_calls.py [--questions 20] [--data-dir DIR]
        [--out bench/results/llm-calls.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["LANGSMITH_TRACING"] = "false"
for _key in ("OPENAI_API_KEY", "TAVILY_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(_key, None)

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from pydantic import ConfigDict  # noqa: E402

from bench.baselines import crag_tutorial  # noqa: E402
from graphs import build_graph  # noqa: E402
from nodes.generate import NOT_FOUND  # noqa: E402
from nodes.local.text import split_sentences, term_set  # noqa: E402
from nodes.models import register_chat_model, unregister_chat_model  # noqa: E402
from state.context import Context  # noqa: E402
from state.document import Doc, make_doc  # noqa: E402

CORPUS_DOCS = 40
GRADE_CHARS = 1200
"""Characters of each document the relevance rule reads (our grader prompt's cut)."""
RELEVANT_SHARE = 0.5
"""Share of the question's content terms a relevant chunk must contain."""
TARGET_RATIO = 0.4
NO_ANSWER = "I don't know."
ROLES_OURS = ("router", "grader", "generator")


# ---------------------------------------------------------------- counting fake chat models


class CallLog:
    """Calls and seconds spent in model calls, per role, for one system.

    Example:
        >>> log = CallLog()
        >>> log.record("grader", 0.01)
        >>> log.total, log.calls["grader"]
        (1, 1)
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0

    @property
    def total(self) -> int:
        """All calls recorded."""
        return sum(self.calls.values())

    def record(self, role: str, seconds: float) -> None:
        """Count one call of ``role`` that took ``seconds`` (wall time of ``invoke``)."""
        self.calls[role] += 1
        self.seconds += seconds

    def snapshot(self) -> tuple[Counter[str], float]:
        """A copy of the counters, to diff against later."""
        return Counter(self.calls), self.seconds


class RuleChatModel(BaseChatModel):
    """A fake chat model whose reply is a function of its prompt; it logs every call.

    ``respond`` receives the prompt's messages joined by newlines. Calls are counted and
    timed in ``invoke`` (the whole LangChain call, callbacks included), which is how every
    node of both systems calls its model.

    Example:
        >>> log = CallLog()
        >>> m = RuleChatModel(role="echo", respond=lambda p: p.upper(), log=log)
        >>> m.invoke("hi").content, log.calls["echo"]
        ('HI', 1)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    role: str
    respond: Callable[[str], str]
    log: Any

    @property
    def _llm_type(self) -> str:
        return "rule-fake"

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> BaseMessage:  # noqa: A002
        start = time.perf_counter()
        try:
            return super().invoke(input, config, **kwargs)
        finally:
            self.log.record(self.role, time.perf_counter() - start)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = "\n".join(str(m.content) for m in messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.respond(prompt)))])


# ------------------------------------------------------------- the shared scripted behaviour


def is_relevant(question: str, text: str) -> bool:
    """The relevance rule both systems' graders follow.

    Example:
        >>> is_relevant("Bronze savings closure fee?", "Early closure fee for Bronze savings")
        True
        >>> is_relevant("Bronze savings closure fee?", "Debit card PIN reset")
        False
    """
    terms = term_set(question)
    if not terms:
        return False
    return len(terms & term_set(text[:GRADE_CHARS])) / len(terms) >= RELEVANT_SHARE


def best_sentence(question: str, passages: list[str]) -> tuple[int, str] | None:
    """The (passage index, sentence) sharing most content terms with the question, or None.

    Example:
        >>> best_sentence("closure fee?", ["Open online.", "The closure fee is $20. Bye."])
        (1, 'The closure fee is $20.')
    """
    terms = term_set(question)
    best, best_overlap = None, 0
    for i, passage in enumerate(passages):
        for sentence in split_sentences(passage):
            overlap = len(terms & term_set(sentence))
            if overlap > best_overlap:
                best, best_overlap = (i, sentence), overlap
    return best


_DOC_BLOCK = re.compile(r'<document id="(\d+)"[^>]*>\n(.*?)\n</document>', re.DOTALL)


def _match(pattern: str, prompt: str, flags: int = 0) -> re.Match[str]:
    found = re.search(pattern, prompt, flags)
    if found is None:
        raise ValueError(f"unexpected prompt for this fake model: {prompt[:200]!r}")
    return found


def keywords(question: str) -> str:
    """The question's content words: the rewritten query of the fakes.

    Example:
        >>> keywords("What are the rules for closing accounts?")
        'rules closing accounts'
    """
    from nodes.local.text import content_words

    return " ".join(content_words(question)) or question


def router_reply(prompt: str) -> str:
    """Our router: a single retrieval over the knowledge base; the query is the question
    (or its keywords when a previous query did not work)."""
    question = _match(r"Latest message: (.*)", prompt).group(1).strip()
    retry = "did not answer the question" in prompt
    plan = {
        "query": keywords(question) if retry else question,
        "decision": "single",
        "sub_questions": [],
        "sources": ["vectorstore"],
        "reasons": {"vectorstore": "banking knowledge base"},
        "memories": [],
    }
    return json.dumps(plan)


def grader_reply(prompt: str) -> str:
    """Our grader: every document scored in one reply (0.9 relevant, 0.1 not)."""
    question = _match(r"Question: (.*)", prompt).group(1).strip()
    scores = [
        {"id": int(n), "score": 0.9 if is_relevant(question, body) else 0.1}
        for n, body in _DOC_BLOCK.findall(prompt)
    ]
    return json.dumps({"scores": scores})


def generator_reply(prompt: str) -> str:
    """Our generator: the best context sentence, cited by its document number."""
    question = re.findall(r"Question: (.*)", prompt)[-1].strip()
    blocks = _DOC_BLOCK.findall(prompt)
    best = best_sentence(question, [body for _, body in blocks])
    if best is None:
        return "The available sources do not answer the question."
    i, sentence = best
    return f"{sentence.rstrip('.')} [{blocks[i][0]}]."


def tutorial_grader_reply(prompt: str) -> str:
    """The tutorial's grader: ``yes`` or ``no`` for one document."""
    found = _match(r"Retrieved document: \n\n (.*) \n\n User question: (.*)", prompt, re.DOTALL)
    return "yes" if is_relevant(found.group(2).strip(), found.group(1)) else "no"


def tutorial_rewriter_reply(prompt: str) -> str:
    """The tutorial's question re-writer: the question's keywords."""
    question = _match(r"initial question: \n\n (.*) \n Formulate", prompt, re.DOTALL).group(1)
    return keywords(question.strip())


def tutorial_generator_reply(prompt: str) -> str:
    """The tutorial's generator: the best context sentence, or "I don't know."."""
    found = _match(r"Question: (.*) \nContext: (.*) \nAnswer:", prompt, re.DOTALL)
    best = best_sentence(found.group(1).strip(), [found.group(2)])
    return best[1] if best else NO_ANSWER


# ------------------------------------------------------------------ corpus, index, questions


def banking_titles(limit: int = CORPUS_DOCS) -> list[str]:
    """Titles of the first ``limit`` banking documents (those the index holds)."""
    from tools.demo_corpus import banking_documents

    return [d["title"].strip() for d in banking_documents()[:limit]]


def questions(count: int = 20) -> list[str]:
    """``count`` questions made from indexed document titles, spread evenly over them.

    Example:
        >>> questions(2)[0]  # doctest: +SKIP
        'What are the rules for opening personal checking accounts?'
    """
    titles = banking_titles()
    picked = [titles[i * len(titles) // count] for i in range(count)]
    out = []
    for title in picked:
        topic = title.removeprefix("Internal: ").split("?")[0].rstrip(" .").lower()
        out.append(f"What are the rules for {topic}?")
    return out


def build_index(root: Path) -> str:
    """Ingest the first 40 banking documents under ``root``; returns the data directory."""
    from tools.demo_corpus import export_banking_corpus
    from tools.ingest import ingest_paths

    data = root / "data"
    if (data / "chroma").exists():
        return str(data)
    export_banking_corpus(root / "corpus", limit=CORPUS_DOCS)
    report = ingest_paths([root / "corpus"], data_dir=str(data), kb="default")
    if not report.ok:
        raise SystemExit(f"ingest failed: {report}")
    return str(data)


# ------------------------------------------------------------------------------- web stub


class StubWebRetriever:
    """The ``web`` source answering every query with the tutorial's one stub result."""

    name = "web"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        return None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        return [
            make_doc(
                id=r["url"], content=r["content"], source="web", title="Web", location=r["url"]
            )
            for r in crag_tutorial.stub_web_search(query)
        ]


@contextmanager
def patched_retrievers(choose: Callable[[str, Callable], Any]) -> Iterator[None]:
    """Route every ``get_retriever(name)`` of the graph through ``choose(name, original)``.

    The graph looks retrievers up in `tools.sources` (availability), `nodes.retrieve` and
    `nodes.web_fallback`; all three names are replaced for the block.
    """
    import nodes.retrieve
    import nodes.web_fallback
    import tools.sources

    original = tools.sources.get_retriever
    modules = (tools.sources, nodes.retrieve, nodes.web_fallback)
    for module in modules:
        module.get_retriever = lambda name: choose(name, original)
    try:
        yield
    finally:
        for module in modules:
            module.get_retriever = original


def stub_web(name: str, original: Callable) -> Any:
    """`patched_retrievers` chooser: the stub for ``web``, the real retriever otherwise."""
    return StubWebRetriever() if name == "web" else original(name)


# ------------------------------------------------------------------------------- the runs


@contextmanager
def our_models(log: CallLog, roles: tuple[str, ...] = ROLES_OURS) -> Iterator[dict[str, str]]:
    """Register counting fakes for ``roles``; yields the Context fields selecting them."""
    replies = {"router": router_reply, "grader": grader_reply, "generator": generator_reply}
    names = {}
    try:
        for role in roles:
            name = f"bench:{role}"
            register_chat_model(name, RuleChatModel(role=role, respond=replies[role], log=log))
            names[f"{role}_model"] = name
        yield names
    finally:
        for name in names.values():
            unregister_chat_model(name)


def run_ours(
    questions_: list[str],
    data_dir: str,
    *,
    roles: tuple[str, ...] = ROLES_OURS,
    **context: Any,
) -> list[dict[str, Any]]:
    """Ask each question in its own thread; one result row per question.

    Args:
        questions_: The questions.
        data_dir: The index's data directory.
        roles: The roles played by a (fake) LLM; the others use the local engine.
        **context: Further `Context` fields (e.g. ``router_skip_plain=False``).
    """
    log = CallLog()
    rows = []
    with our_models(log, roles) as models, patched_retrievers(stub_web):
        app = build_graph(checkpointer=InMemorySaver())
        ctx = Context(data_dir=data_dir, top_k=crag_tutorial.K, **models, **context)
        for i, question in enumerate(questions_):
            before, _ = log.snapshot()
            out = app.invoke(
                {"messages": [("user", question)]},
                {"configurable": {"thread_id": f"q{i}"}},
                context=ctx,
            )
            calls = log.calls - before
            if out["usage"]["llm_calls"] != sum(calls.values()):
                raise AssertionError(f"usage and counted calls disagree for {question!r}")
            rows.append(
                {
                    "calls": dict(calls),
                    "total": sum(calls.values()),
                    "answered": not out["answer"].startswith(NOT_FOUND),
                    "grade": out.get("grade"),
                    "sources": out["route"].get("sources", []),
                    "trace": out["trace"],
                }
            )
    return rows


def run_tutorial(questions_: list[str], data_dir: str) -> list[dict[str, Any]]:
    """Run the CRAG tutorial graph on each question; one result row per question."""
    log = CallLog()
    app = crag_tutorial.build_crag_graph(
        RuleChatModel(role="generate", respond=tutorial_generator_reply, log=log),
        grader_llm=RuleChatModel(role="grade", respond=tutorial_grader_reply, log=log),
        rewriter_llm=RuleChatModel(
            role="transform_query", respond=tutorial_rewriter_reply, log=log
        ),
        retrieve_fn=crag_tutorial.vectorstore_retrieve(data_dir),
    )
    rows = []
    for question in questions_:
        before, _ = log.snapshot()
        out = app.invoke({"question": question})
        calls = log.calls - before
        rows.append(
            {
                "calls": dict(calls),
                "total": sum(calls.values()),
                "answered": out["generation"].strip() != NO_ANSWER,
                "web_search": out["web_search"] == "Yes",
            }
        )
    return rows


def per_answered(rows: list[dict[str, Any]]) -> float:
    """All calls divided by the questions answered (inf when none was)."""
    answered = sum(r["answered"] for r in rows)
    return sum(r["total"] for r in rows) / answered if answered else float("inf")


def compare(questions_: list[str], data_dir: str) -> dict[str, Any]:
    """Run the tutorial and both configurations of this graph; the summary and the rows."""
    tutorial = run_tutorial(questions_, data_dir)
    configs = {
        "llm_router": run_ours(questions_, data_dir),
        "router_always": run_ours(questions_, data_dir, router_skip_plain=False),
        "local_router": run_ours(questions_, data_dir, roles=("grader", "generator")),
    }
    base = per_answered(tutorial)
    summary = {
        "tutorial": {
            "calls": sum(r["total"] for r in tutorial),
            "answered": sum(r["answered"] for r in tutorial),
            "per_answered": base,
        }
    }
    for name, rows in configs.items():
        summary[name] = {
            "calls": sum(r["total"] for r in rows),
            "answered": sum(r["answered"] for r in rows),
            "per_answered": per_answered(rows),
            "ratio": per_answered(rows) / base,
        }
    return {"summary": summary, "tutorial": tutorial, **configs}


# ---------------------------------------------------------------------------------- report


def machine() -> str:
    """One line describing the machine and the library versions."""
    from importlib.metadata import version

    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"langgraph {version('langgraph')}, langchain-core {version('langchain-core')}"
    )


def _calls(row: dict[str, Any], roles: tuple[str, ...]) -> str:
    return " + ".join(f"{row['calls'].get(r, 0)} {r}" for r in roles if row["calls"].get(r))


def render(result: dict[str, Any], questions_: list[str], command: str, seconds: float) -> str:
    """The Markdown report."""
    s = result["summary"]
    t, a, r, b = s["tutorial"], s["llm_router"], s["router_always"], s["local_router"]
    plain = sum("router" not in row["calls"] for row in result["llm_router"])
    n = len(questions_)
    lines = [
        "# LLM calls per answered question: this graph vs the LangGraph CRAG tutorial",
        "",
        f"- command: `{command}`",
        f"- date: {date.today().isoformat()}; run time {seconds:.0f} s",
        f"- machine: {machine()}",
        f"- questions: {n} (one per indexed tau2-bench banking document title, spread over "
        f"the first {CORPUS_DOCS} documents); index: those {CORPUS_DOCS} documents",
        "",
        "| system | LLM calls | answered | calls / answered question | ratio to tutorial |",
        "|---|---:|---:|---:|---:|",
        f"| CRAG tutorial (per-document grading) | {t['calls']} | {t['answered']}/{n} "
        f"| {t['per_answered']:.2f} | 1.00 |",
        f"| this graph, every role an LLM (default: plain questions skip the router) "
        f"| {a['calls']} | {a['answered']}/{n} | {a['per_answered']:.2f} | **{a['ratio']:.2f}** |",
        f"| this graph, every role an LLM, router consulted on every question "
        f"(`router_skip_plain=False`) | {r['calls']} | {r['answered']}/{n} "
        f"| {r['per_answered']:.2f} | {r['ratio']:.2f} |",
        f"| this graph, local router, LLM grader + generator | {b['calls']} "
        f"| {b['answered']}/{n} | {b['per_answered']:.2f} | {b['ratio']:.2f} |",
        "",
        f"Target: ratio <= {TARGET_RATIO}: "
        + ("**met**" if a["ratio"] <= TARGET_RATIO else "**not met**")
        + " with the default configuration, every role an LLM. "
        f"{plain} of the {n} questions are plain (a standalone question with one information "
        "need and no follow-up, comparison, memory, research, web-site or recent-events cue): "
        "the offline rules route them to the knowledge base with the question as the query, "
        "exactly as the router model would, so the router model is not called for them "
        "(`Context.router_skip_plain`). The others get the router model. "
        "When the router is consulted on every question the floor is 3 calls (plan + one "
        "batched grade + generation) against the tutorial's 5-6, so that ratio cannot go "
        "below 0.5; a conversation of follow-ups, where every message needs the router, "
        "costs that.",
        "",
        "## Method",
        "",
        "Both systems answer the same questions over the same index and retrieve the same 4 "
        "chunks per question (the project's hybrid vector-store retriever, k=4, searched with "
        "the question). Every LLM is a fake chat model wrapped in a call counter; the "
        "behaviour is the same for both systems:",
        "",
        f"- relevance: a chunk is relevant when its first {GRADE_CHARS} characters contain at "
        f"least {RELEVANT_SHARE:.0%} of the question's stemmed content terms. The tutorial "
        "grader says `yes`/`no` once per document; this graph's grader scores all documents "
        "in one reply (0.9 relevant, 0.1 not);",
        "- router (this graph): single retrieval from the knowledge base, query = the question;",
        "- rewriter (tutorial): the question's keywords;",
        "- generator: the context sentence sharing most terms with the question (cited `[n]` "
        "by this graph); `I don't know.` when none shares a term;",
        "- web search: one fixed stub document for both (the tutorial's `web_search_node`; "
        "this graph's CRAG web fallback through a patched `web` source).",
        "",
        "This graph's answer checker is its default (`local`, no LLM call). A question is "
        "answered when the final answer is not an abstention. The tutorial is re-implemented "
        "in `bench/baselines/crag_tutorial.py` (structure, prompts and deviations in its "
        "docstring). Our counts are cross-checked against the graph's own "
        "`usage.llm_calls`.",
        "",
        "## Per question",
        "",
        "| # | question | tutorial calls | this graph (default) | router on every question "
        "| local router |",
        "|---:|---|---|---|---|---|",
    ]
    tut_roles = ("grade", "transform_query", "generate")
    for i, q in enumerate(questions_):
        tr, ar, br = result["tutorial"][i], result["llm_router"][i], result["local_router"][i]
        rr = result["router_always"][i]

        def cell(row: dict[str, Any], roles: tuple[str, ...], extra: str) -> str:
            mark = "" if row["answered"] else ", not answered"
            if row.get("sources", ["vectorstore"]) != ["vectorstore"]:
                mark += f", searched {'+'.join(row['sources'])}"
            return f"{row['total']} ({_calls(row, roles)}{extra}{mark})"

        lines.append(
            f"| {i + 1} | {q} | {cell(tr, tut_roles, '')} "
            f"| {cell(ar, ROLES_OURS, ', ' + str(ar['grade']))} "
            f"| {cell(rr, ROLES_OURS, ', ' + str(rr['grade']))} "
            f"| {cell(br, ROLES_OURS, ', ' + str(br['grade']))} |"
        )
    if any(r.get("sources") != ["vectorstore"] for r in result["local_router"]):
        lines += [
            "",
            "*searched web*: the local router's rules also searched the web (the question "
            "names a date, read as a need for recent information); the default configuration "
            "sends such questions to the router model instead.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the report (and its JSON next to it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--data-dir", help="reuse an index built by an earlier run")
    parser.add_argument("--out", default="bench/results/llm-calls.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llm-calls-") as tmp:
        data_dir = args.data_dir or build_index(Path(tmp))
        qs = questions(args.questions)
        result = compare(qs, data_dir)
    seconds = time.perf_counter() - start
    command = ".venv/bin/python bench/llm_calls.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(result, qs, command, seconds), encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps({"questions": qs, **result}, indent=1) + "\n", encoding="utf-8"
    )
    s = result["summary"]
    print(
        f"tutorial {s['tutorial']['per_answered']:.2f} calls/answered, "
        f"ours {s['llm_router']['per_answered']:.2f} (ratio {s['llm_router']['ratio']:.2f}), "
        f"router on every question {s['router_always']['per_answered']:.2f} "
        f"(ratio {s['router_always']['ratio']:.2f}), "
        f"ours with local router {s['local_router']['per_answered']:.2f} "
        f"(ratio {s['local_router']['ratio']:.2f}); wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
