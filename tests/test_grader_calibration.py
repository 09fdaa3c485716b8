"""The local grader's features (batch weighting, sentence picking) and its calibration split."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.local import grader

QUESTION = "What is the overdraft fee on the Blue Account?"


class RecordingEmbed:
    """A stand-in embedder: fixed unit vectors, and a record of what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 384), np.float32)
        for i, text in enumerate(texts):
            out[i, 0] = 1.0
            out[i, 1 + len(text) % 50] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def column(name: str) -> int:
    return grader.FEATURES.index(name)


def test_shared_terms_weigh_less_when_graded_together():
    answer = "The overdraft fee is $25 per item."
    shared = "The Blue Account has no minimum balance."
    other = "Blue Account cards can be frozen in the app."
    embed = RecordingEmbed()
    alone = grader.features(QUESTION, [answer, shared], embed=embed)
    together = grader.features(QUESTION, [answer, shared, other], embed=embed)
    cov = column("sentence_coverage")
    assert together[0, cov] > alone[0, cov]  # "Blue Account" is now shared by two others
    assert together[1, cov] < alone[1, cov]


def test_only_the_best_covering_sentences_are_embedded():
    filler = [f"Sentence number {i} talks about something else entirely." for i in range(12)]
    passage = " ".join([*filler[:6], "The overdraft fee is $25 per item.", *filler[6:]])
    embed = RecordingEmbed()
    rows = grader.features(QUESTION, [passage], embed=embed)
    assert rows.shape == (1, len(grader.FEATURES))
    (sent,) = embed.calls
    assert len(sent) == grader.TOP_SENTENCES + 1 and sent[-1] == QUESTION
    assert sent[0] == "The overdraft fee is $25 per item."


def test_question_vector_is_reused_and_edge_cases_are_finite():
    embed = RecordingEmbed()
    q_vector = embed([QUESTION])[0]
    embed.calls.clear()
    rows = grader.features(QUESTION, ["", "   ", "Fees."], q_vector, embed=embed)
    assert QUESTION not in sum(embed.calls, [])
    assert np.isfinite(rows).all()
    assert grader.features(QUESTION, [], embed=embed).shape == (0, len(grader.FEATURES))
    assert grader.score_documents(QUESTION, []) == []


def test_length_feature_is_clipped_to_the_fitted_range():
    embed = RecordingEmbed()
    low, high = grader.LENGTH_RANGE
    texts = ["word " * 5, "word " * low, "word " * high, "word " * (high * 5)]
    lengths = grader.features("word?", texts, embed=embed)[:, column("log_length")]
    assert lengths[0] == lengths[1] and lengths[2] == lengths[3] and lengths[1] < lengths[2]


def test_calibration_split_keeps_articles_apart():
    from bench.calibrate_grader import TEST_QUESTIONS, TRAIN_QUESTIONS, split
    from tools.datasets import load_squad, squad_dev_path

    if not squad_dev_path().exists():
        pytest.skip("SQuAD v1.1 dev not available")
    _, questions = load_squad(squad_dev_path())
    train, test = split(questions)
    assert (len(train), len(test)) == (TRAIN_QUESTIONS, TEST_QUESTIONS)
    assert not {q["title"] for q in train} & {q["title"] for q in test}
    assert split(questions)[1][0] == test[0]
