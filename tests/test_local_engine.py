"""Local grader, refinement, extractive generator and answer check, on real SQuAD text."""

from __future__ import annotations

import random
from functools import lru_cache

import pytest

from nodes.local.check import check_answer
from nodes.local.generate import NOT_FOUND, PREFIX, extractive_answer
from nodes.local.grader import classify, score_documents
from nodes.local.refine import refine, split_strips
from state.context import Context
from state.document import make_doc
from tools.datasets import bm25_distractors, load_squad, squad_dev_path

SQUAD = squad_dev_path()
BANK = """# Blue Account

The Blue Account is our everyday current account. It has no minimum balance.

## Fees
- The monthly fee is $5, waived for students under 25.
- The overdraft fee is $25 per item, at most 3 items a day.

## Cards
Debit cards can be frozen in the mobile app. Lost cards are replaced within 5 business days.
"""

pytestmark = pytest.mark.skipif(not SQUAD.exists(), reason="SQuAD v1.1 dev not available")


@lru_cache(maxsize=1)
def squad_sample(n: int = 50) -> list[tuple[str, list[str], str, str]]:
    """Seeded (question, gold answers, own paragraph, best BM25 other paragraph) tuples."""
    paragraphs, questions = load_squad(SQUAD)
    picked = random.Random(2024).sample(questions, n)
    others = bm25_distractors(paragraphs, picked)
    return [
        (q["question"], q["answers"], paragraphs[q["para"]][1], paragraphs[o][1])
        for q, o in zip(picked, others, strict=True)
    ]


def doc(content: str, i: int = 0, source: str = "vectorstore") -> dict:
    return make_doc(id=f"d{i}", content=content, source=source, title=f"T{i}", location=f"L{i}")


def test_grader_ranks_own_paragraph_above_bm25_distractor():
    sample = squad_sample()
    wins = 0
    for question, _, own, other in sample:
        scores = score_documents(question, [doc(own), doc(other, 1)])
        assert all(0.0 <= s <= 1.0 for s in scores)
        wins += scores[0] > scores[1]
    print(f"grader: own > BM25 distractor for {wins}/{len(sample)}")
    assert wins / len(sample) >= 0.8


def test_grader_separates_related_from_unrelated_and_uses_stored_vectors():
    from tools.embedder import get_embedder

    question = "What is the overdraft fee on the Blue Account?"
    unrelated = (
        "The Normans were the people who in the 10th and 11th centuries gave Normandy its name."
    )
    plain = score_documents(question, [doc(BANK), doc(unrelated, 1, "web")])
    ctx = Context()
    assert plain[0] >= ctx.correct_threshold > ctx.incorrect_threshold > plain[1]
    stored = doc(BANK)
    stored["metadata"]["dense"] = get_embedder().embed([BANK])[0].tolist()
    assert score_documents(question, [stored])[0] == pytest.approx(plain[0], abs=1e-4)
    assert score_documents(question, []) == []


@pytest.mark.parametrize(
    ("scores", "verdict"),
    [
        ([0.6], "correct"),
        ([0.1, 0.59], "ambiguous"),
        ([0.35], "ambiguous"),
        ([0.349, 0.0], "incorrect"),
        ([], "incorrect"),
    ],
)
def test_classify_boundaries(scores, verdict):
    assert classify(scores, 0.6, 0.35) == verdict


def test_split_strips_groups_sentences():
    strips = split_strips(BANK, max_sentences=2)
    assert strips[0] == (
        "The Blue Account is our everyday current account. It has no minimum balance."
    )
    assert len(strips) == 3
    assert all("#" not in s for s in strips)


def test_refine_drops_irrelevant_strips_and_keeps_order():
    noise = (
        "The Normans were the people who gave Normandy its name. Their dukes swore fealty to "
        "the king of West Francia. They adopted the Romance language of the land."
    )
    content = f"{noise} {BANK.splitlines()[6][2:]} {BANK.splitlines()[7][2:]}"
    docs = [doc(content, 0), doc(BANK, 1)]
    kept = refine("What is the overdraft fee?", docs, Context().strip_threshold)
    assert kept, "the overdraft strips must survive"
    assert all("Normans" not in d["content"] for d in kept)
    assert any("overdraft fee is $25" in d["content"] for d in kept)
    assert [d["metadata"]["parent_id"] for d in kept] == sorted(
        d["metadata"]["parent_id"] for d in kept
    )
    first = kept[0]
    assert first["id"].startswith(first["metadata"]["parent_id"] + "#s")
    assert (first["title"], first["location"], first["source"]) == ("T0", "L0", "vectorstore")
    assert 0.0 <= first["metadata"]["strip_score"] <= 1.0
    strip_numbers = [
        int(d["id"].split("#s")[1]) for d in kept if d["metadata"]["parent_id"] == "d1"
    ]
    assert strip_numbers == sorted(strip_numbers)


def test_extractive_answer_contains_gold_span_for_most_squad_questions():
    sample = squad_sample()
    hits = 0
    for question, answers, own, other in sample:
        answer = extractive_answer(question, [doc(other, 0), doc(own, 1)])
        hits += any(a in answer for a in answers)
        if answer != NOT_FOUND:
            assert answer.startswith(PREFIX)
            assert "[1]" in answer or "[2]" in answer
    print(f"extractive: gold span in answer for {hits}/{len(sample)}")
    assert hits / len(sample) >= 0.7


def test_extractive_answer_cites_and_abstains():
    docs = [doc("Debit cards can be frozen in the mobile app.", 0), doc(BANK, 1)]
    answer = extractive_answer("How much is the overdraft fee?", docs)
    assert "$25" in answer and "[2]" in answer
    assert extractive_answer("How much is the overdraft fee?", docs) == answer
    normans = (
        "The Normans were the people who in the 10th and 11th centuries gave Normandy its name."
    )
    assert extractive_answer("What is the overdraft fee?", [doc(normans)]) == NOT_FOUND
    assert extractive_answer("What is the overdraft fee?", []) == NOT_FOUND


def test_check_accepts_extractive_answer_and_abstention():
    docs = [doc(BANK, 0)]
    question = "How much is the overdraft fee?"
    result = check_answer(question, extractive_answer(question, docs), docs)
    assert result["grounded"] and result["relevant"] and result["unsupported"] == []
    abstain = check_answer(question, NOT_FOUND, docs)
    assert abstain["grounded"] and abstain["relevant"]


def test_check_flags_unsupported_sentence_and_wrong_citation():
    docs = [doc(BANK, 0), doc("Debit cards can be frozen in the mobile app.", 1)]
    answer = (
        "The overdraft fee is $25 per item [1]. "
        "Overdrafts also raise your mortgage interest rate by two points [1]. "
        "Lost cards are replaced within 5 business days [3]."
    )
    result = check_answer("How much is the overdraft fee?", answer, docs)
    assert not result["grounded"]
    assert len(result["unsupported"]) == 2
    assert "mortgage" in result["unsupported"][0] and "[3]" in result["unsupported"][1]


def test_check_accepts_paraphrase_and_flags_off_topic_answer():
    docs = [doc(BANK, 0)]
    paraphrase = "Each overdraft item costs twenty-five dollars [1]."
    assert check_answer("What does an overdraft cost?", paraphrase, docs)["grounded"]
    off_topic = check_answer(
        "What is the overdraft fee?", "Debit cards can be frozen in the mobile app [1].", docs
    )
    assert off_topic["grounded"] and not off_topic["relevant"]
