"""Local router: follow-up rewriting, retrieval decisions, source choice and small talk."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from nodes.local.router import choose_sources, converse, decide, rewrite
from nodes.local.text import split_sentences

ALL = ["vectorstore", "web", "arxiv", "memory"]


def test_follow_up_gets_previous_topic_and_keeps_new_words():
    history = [HumanMessage("How do I open a Blue Account?"), AIMessage("Apply online [1].")]
    query = rewrite([*history, HumanMessage("and what about its fees?")])
    assert "Blue Account" in query
    assert "fees" in query


def test_short_follow_up_and_standalone_question():
    history = [HumanMessage("What is the Blue Account?"), AIMessage("A current account.")]
    assert "Blue Account" in rewrite([*history, HumanMessage("Fees?")])
    standalone = "What is the minimum balance for a savings account?"
    assert rewrite([*history, HumanMessage(standalone)]) == standalone


def test_chitchat_prefix_and_whitespace_are_removed():
    query = rewrite([HumanMessage("Hi,   can you tell me   how do I reset my PIN?")])
    assert query == "How do I reset my PIN?"


@pytest.mark.parametrize("text", ["hi", "Hello!", "thanks a lot", "Thank you!", "good morning"])
def test_small_talk_needs_no_retrieval(text):
    decision, subs, _ = decide(text, text, [])
    assert decision == "none" and subs == []


def test_question_about_conversation_is_answered_from_history():
    history = [HumanMessage("How do I open a Blue Account?"), AIMessage("Online [1].")]
    assert decide("What did I just ask?", "What did I just ask?", history)[0] == "none"
    assert "How do I open a Blue Account?" in converse("What did I just ask?", history)
    assert "welcome" in converse("thanks!", history).lower()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the overdraft fee? How do I avoid it?", 2),
        ("What is the overdraft fee and how do I apply for a loan?", 2),
        ("What is the difference between a debit card and a credit card?", 2),
        ("Compare the Blue Account and the Gold Account", 2),
    ],
)
def test_compound_questions_are_decomposed(question, expected):
    decision, subs, reason = decide(question, question, [])
    assert decision == "multi", reason
    assert len(subs) == expected
    assert all(s.endswith("?") for s in subs)


def test_comparison_sub_questions_name_each_side():
    _, subs, _ = decide("difference between a debit card and a credit card", "", [])
    assert any("debit card" in s for s in subs) and any("credit card" in s for s in subs)


def test_follow_up_sub_question_is_made_standalone():
    _, subs, _ = decide("Who won Super Bowl 50 and when was it played?", "", [])
    assert "Super Bowl" in subs[1]


def test_single_question():
    assert decide("How do I reset my PIN?", "How do I reset my PIN?", []) == (
        "single",
        ["How do I reset my PIN?"],
        "one information need: retrieve for the query",
    )


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("What does the paper 2310.11511 propose?", "arxiv"),
        ("recent work on retrieval augmented generation", "arxiv"),
        ("What do you know about me?", "memory"),
        ("Remember what I told you about my travel plans?", "memory"),
        ("What did I tell you about my account?", "memory"),
        ("What is my account type?", "memory"),
        ("Where do I work?", "memory"),
        ("Which papers did Yan et al. publish on corrective RAG?", "arxiv"),
        ("What is the latest news about the central bank rate decision today?", "web"),
        ("latest news on interest rates", "web"),
        ("What is on https://example.com/pricing", "web"),
        ("What is the overdraft fee?", "vectorstore"),
    ],
)
def test_source_choice(query, source):
    chosen, reasons = choose_sources(query, ALL)
    assert source in chosen
    assert set(reasons) == set(chosen)


def test_default_is_vectorstore_only():
    assert choose_sources("How do I freeze my card?", ALL)[0] == ["vectorstore"]


def test_unavailable_match_falls_back_to_vectorstore_and_never_empty():
    chosen, reasons = choose_sources("latest news today", ["vectorstore", "memory"])
    assert chosen == ["vectorstore"] and "fallback" in reasons["vectorstore"]
    assert choose_sources("What is the fee?", ["web"])[0] == ["web"]
    assert choose_sources("anything", []) == ([], {})


def test_markdown_sentences():
    text = (
        "# Blue Account\n\nThe Blue Account is a current account. It costs $5 a month.\n\n"
        "## Fees\n- Overdraft fee: $25 per item.\n- Wire transfers cost $15, e.g. abroad.\n"
        "| Card | Fee |\n|---|---|\n| Debit | $0 |\n"
    )
    assert split_sentences(text) == [
        "The Blue Account is a current account.",
        "It costs $5 a month.",
        "Overdraft fee: $25 per item.",
        "Wire transfers cost $15, e.g. abroad.",
        "Card; Fee",
        "Debit; $0",
    ]


def test_long_messages_are_one_reduced_query_not_split():
    from nodes.local.router import decide

    message = " ".join(["I am calling about my account and I have a few concerns today."] * 6)
    message += " What is the fee? And how long does it take?"
    decision, subs, reason = decide(message, message, [])
    assert decision == "single" and len(subs) == 1 and "long message" in reason
