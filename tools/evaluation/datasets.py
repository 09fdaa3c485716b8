"""Evaluation sets: a corpus of documents, queries and the documents relevant to each query."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.datasets import load_squad, squad_dev_path

DATASETS = ("squad", "tau2")
SPLITS = ("dev", "test")
_SAFE = str.maketrans({c: "_" for c in '/\\:*?"<>| '})


@dataclass(frozen=True)
class Document:
    """One corpus document; ``key`` is unique and safe as a file name."""

    key: str
    title: str
    text: str


@dataclass(frozen=True)
class Query:
    """One query, the keys of its relevant documents and an optional group (e.g. a split)."""

    id: str
    text: str
    relevant: frozenset[str]
    group: str = ""


@dataclass
class EvalSet:
    """A retrieval benchmark: ``documents`` are indexed, ``queries`` are searched."""

    name: str
    documents: list[Document]
    queries: list[Query]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def corpus_hash(self) -> str:
        """A short hash of the corpus content (keys, titles, texts), to key a cached index."""
        digest = hashlib.sha256()
        for doc in self.documents:
            for part in (doc.key, doc.title, doc.text):
                digest.update(part.encode("utf-8"))
                digest.update(b"\x00")
        return digest.hexdigest()[:12]


def squad_set(path: Path | None = None, limit: int | None = None, seed: int = 0) -> EvalSet:
    """SQuAD (v1.1 JSON format): corpus = unique paragraphs, one relevant paragraph per question.

    Args:
        path: A file in SQuAD's JSON format; SQuAD v1.1 dev from the shared data when None.
        limit: Evaluate a seeded random sample of this many questions (the corpus stays whole).
        seed: Seed of the sample.
    """
    source = Path(path) if path else squad_dev_path()
    paragraphs, questions = load_squad(source)
    docs = [
        Document(f"p{i:05d}", title.replace("_", " "), text)
        for i, (title, text) in enumerate(paragraphs)
    ]
    queries = [
        Query(f"q{i:05d}", q["question"], frozenset({docs[q["para"]].key}))
        for i, q in enumerate(questions)
    ]
    label = str(path) if path else "SQuAD v1.1 dev (../shared/data/squad/squaddev_v1.1.json)"
    return EvalSet("squad", docs, _sample(queries, limit, seed), label)


def tau2_split(index: int) -> str:
    """The half a tau2 task belongs to: even positions are ``dev`` (used to choose query
    rules), odd positions ``test`` (held apart)."""
    return SPLITS[index % 2]


def tau2_set(
    path: Path | None = None, limit: int | None = None, split: str | None = None
) -> EvalSet:
    """tau2-bench banking knowledge: 698 policy documents, tasks' ``required_documents`` as qrels.

    The query is the task's user scenario (``user_scenario.instructions``), the text a
    simulated customer is given; evaluator-only fields are never used.

    Args:
        path: A JSON file ``{"documents": [...], "tasks": [...]}`` in tau2's shapes; the
            banking domain of the installed ``inspect_evals`` package when None.
        limit: Evaluate only the first ``limit`` tasks (after the split filter).
        split: ``"dev"`` or ``"test"`` half only (see `tau2_split`); both when None.
    """
    if path:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        documents, tasks, source = raw["documents"], raw["tasks"], str(path)
    else:
        from tools.demo_corpus import PIN, banking_documents, banking_tasks

        documents, tasks = banking_documents(), banking_tasks()
        source = f"tau2-bench banking_knowledge ({PIN})"
    docs = [Document(d["id"].translate(_SAFE), d["title"].strip(), d["content"]) for d in documents]
    queries = []
    for i, task in enumerate(tasks):
        required = frozenset(r.translate(_SAFE) for r in task.get("required_documents") or [])
        if required:
            text = scenario_text(task)
            queries.append(Query(str(task["id"]), text, required, tau2_split(i)))
    if split:
        queries = [q for q in queries if q.group == split]
    return EvalSet("tau2", docs, queries[:limit] if limit else queries, source)


def scenario_text(task: dict[str, Any]) -> str:
    """The customer-facing scenario of a tau2 task.

    Older tau2 releases store ``instructions`` as a dict (``reason_for_call``, ``known_info``,
    ``unknown_info``, ``task_instructions``); only what a customer would say is kept there.
    """
    instructions = (task.get("user_scenario") or {}).get("instructions") or ""
    if isinstance(instructions, dict):
        fields = ("reason_for_call", "known_info")
        return "\n".join(str(instructions[f]) for f in fields if instructions.get(f))
    return str(instructions)


def load_set(
    dataset: str, path: Path | None = None, limit: int | None = None, split: str | None = None
) -> EvalSet:
    """The evaluation set named ``dataset`` (``squad`` or ``tau2``).

    Raises:
        ValueError: Unknown dataset, or a split given for SQuAD.
    """
    if dataset == "squad":
        if split:
            raise ValueError("--split applies to tau2 only")
        return squad_set(path, limit)
    if dataset == "tau2":
        return tau2_set(path, limit, split)
    raise ValueError(f"unknown dataset {dataset!r} (choose from {', '.join(DATASETS)})")


def _sample(queries: list[Query], limit: int | None, seed: int) -> list[Query]:
    if not limit or limit >= len(queries):
        return queries
    picked = random.Random(seed).sample(range(len(queries)), limit)
    return [queries[i] for i in sorted(picked)]
