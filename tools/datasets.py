"""Where the shared benchmark data lives: ``../shared/data`` beside the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$AGENTIC_RAG_SHARED_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("AGENTIC_RAG_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def squad_dev_path() -> Path:
    """SQuAD v1.1 dev (CC BY-SA 4.0), see ``shared/data/squad/README.md``."""
    return shared_data_dir() / "squad" / "squaddev_v1.1.json"


def load_squad(path: Path | None = None) -> tuple[list[tuple[str, str]], list[dict]]:
    """SQuAD's unique paragraphs ``(title, context)`` and its questions.

    Each question is ``{"question", "title", "para" (paragraph index), "answers", "starts"}``.
    """
    data = json.loads((path or squad_dev_path()).read_text(encoding="utf-8"))["data"]
    paragraphs: list[tuple[str, str]] = []
    index: dict[str, int] = {}
    questions: list[dict] = []
    for article in data:
        title = article["title"]
        for para in article["paragraphs"]:
            context = para["context"]
            if context not in index:
                index[context] = len(paragraphs)
                paragraphs.append((title, context))
            questions += [
                {
                    "question": qa["question"],
                    "title": title,
                    "para": index[context],
                    "answers": [a["text"] for a in qa["answers"]],
                    "starts": [a["answer_start"] for a in qa["answers"]],
                }
                for qa in para["qas"]
            ]
    return paragraphs, questions


def bm25_distractors(paragraphs: list[tuple[str, str]], questions: list[dict]) -> list[int]:
    """For each question, the best BM25 paragraph other than its own (a hard negative)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    corpus = [f"{t.replace('_', ' ')} {c}" for t, c in paragraphs]
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    tokens = bm25s.tokenize(
        [q["question"] for q in questions], stopwords="en", stemmer=stemmer, show_progress=False
    )
    hits, _ = retriever.retrieve(tokens, k=2, show_progress=False)
    return [
        int(row[1] if row[0] == q["para"] else row[0])
        for row, q in zip(hits, questions, strict=True)
    ]
