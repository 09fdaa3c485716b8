"""Quick retrieval benchmark on SQuAD v1.1 dev: BM25 vs dense vs hybrid fusions.

Corpus = every unique paragraph (one Markdown file each, titled with its article, ingested as a
single chunk through `tools.ingest`); query = a question; relevant = its own paragraph.

Usage:
    python bench/retrieval_quick.py [--questions 300] [--data-dir DIR] [--squad FILE]

``--data-dir`` keeps the index between runs (ingestion is skipped when nothing changed).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.datasets import load_squad, squad_dev_path
from tools.ingest import ingest_paths  # noqa: E402
from tools.vectorstore import CANDIDATES, fuse, open_kb  # noqa: E402

SQUAD = squad_dev_path()


def load(squad: Path, n_questions: int, seed: int) -> tuple[list[tuple[str, str]], list]:
    paragraphs, qs = load_squad(squad)
    docs = [(title.replace("_", " "), text) for title, text in paragraphs]
    questions = [(q["question"], q["para"]) for q in qs]
    random.Random(seed).shuffle(questions)
    return docs, questions[:n_questions]


def write_corpus(docs: list[tuple[str, str]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (title, text) in enumerate(docs):
        (folder / f"p{i:05d}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")


def metrics(ranked_paths: list[str], relevant: str) -> tuple[float, float]:
    seen: list[str] = []
    for path in ranked_paths:
        if path not in seen:
            seen.append(path)
    rank = seen.index(relevant) + 1 if relevant in seen else None
    r5 = 1.0 if rank and rank <= 5 else 0.0
    ndcg = 1.0 / math.log2(rank + 1) if rank and rank <= 10 else 0.0
    return r5, ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()

    docs, questions = load(args.squad, args.questions, args.seed)
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="retrieval-quick-"))
    corpus = work / "squad"
    write_corpus(docs, corpus)
    started = time.perf_counter()
    report = ingest_paths([corpus], data_dir=work / "data", kb="squad", chunk_size=6000)
    print(
        f"corpus: {len(docs)} paragraphs, {report.chunks_added} chunks embedded, "
        f"{report.chunks_unchanged} reused, {time.perf_counter() - started:.1f}s"
    )
    kb = open_kb(work / "data", "squad")
    path_of = {}
    for page in kb.iter_chunks(["metadatas"]):
        for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
            path_of[cid] = meta["path"]

    variants = ["bm25", "dense", "rrf"] + [f"weighted w={w}" for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
    totals = {name: [0.0, 0.0] for name in variants}
    started = time.perf_counter()
    for question, para in questions:
        relevant = f"squad/p{para:05d}.md"
        cands = kb.candidates(question, CANDIDATES)
        rankings = {
            "bm25": cands.bm25_rank,
            "dense": cands.dense_rank,
            "rrf": [cid for cid, _ in fuse(cands, "rrf")],
        }
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            rankings[f"weighted w={w}"] = [cid for cid, _ in fuse(cands, "weighted", w)]
        for name, ranking in rankings.items():
            r5, ndcg = metrics([path_of[c] for c in ranking[:10]], relevant)
            totals[name][0] += r5
            totals[name][1] += ndcg
    per_query = (time.perf_counter() - started) / max(len(questions), 1) * 1000
    print(f"{len(questions)} questions, {per_query:.1f} ms/query (all variants from one search)")
    print(f"{'retriever':<16} {'R@5':>6} {'nDCG@10':>8}")
    for name, (r5, ndcg) in totals.items():
        print(f"{name:<16} {r5 / len(questions):6.3f} {ndcg / len(questions):8.3f}")


if __name__ == "__main__":
    main()
