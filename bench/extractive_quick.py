"""Quick check of the offline answer path: refine + extractive answer on SQuAD.

For a seeded sample of SQuAD v1.1 dev questions, the context is the question's own paragraph
plus its hardest BM25 distractor (listed first). The paragraphs go through `refine` (knowledge
strips) and `extractive_answer`, as in the graph. Prints the share of answers containing a gold
span (CRAG's accuracy for PopQA), the share whose first quoted sentence contains one, and the
abstention rate.

Usage: ``.venv/bin/python bench/extractive_quick.py [--questions 300] [--seed 2024]``
"""

from __future__ import annotations

import argparse
import random
import time

from nodes.local.generate import NOT_FOUND, extractive_answer
from nodes.local.refine import refine
from state.context import Context
from state.document import make_doc
from tools.datasets import bm25_distractors, load_squad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    paragraphs, questions = load_squad()
    picked = random.Random(args.seed).sample(questions, args.questions)
    others = bm25_distractors(paragraphs, picked)
    threshold = Context().strip_threshold
    contains = first = abstained = 0
    start = time.perf_counter()
    for q, other in zip(picked, others, strict=True):
        docs = [
            make_doc(
                id=f"p{i}", content=paragraphs[i][1], source="vectorstore", title=paragraphs[i][0]
            )
            for i in (other, q["para"])
        ]
        answer = extractive_answer(q["question"], refine(q["question"], docs, threshold))
        lines = answer.splitlines()[1:]
        contains += any(g in answer for g in q["answers"])
        first += bool(lines) and any(g in lines[0] for g in q["answers"])
        abstained += answer == NOT_FOUND
    n = len(picked)
    print(
        f"questions={n} seed={args.seed} contains_gold={contains / n:.3f} "
        f"first_sentence_gold={first / n:.3f} abstained={abstained / n:.3f} "
        f"seconds={time.perf_counter() - start:.0f}"
    )


if __name__ == "__main__":
    main()
