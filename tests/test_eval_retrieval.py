"""Retrieval evaluation: metrics, query reduction, and quality floors on benchmark slices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from typer.testing import CliRunner

from cli.eval import eval_app
from nodes.local.query import is_long, reduce_query
from nodes.local.router import rewrite
from tools.evaluation.datasets import load_set
from tools.evaluation.metrics import METRICS, mean_scores, mrr_at, ndcg_at, recall_at, score_ranking

FIXTURES = Path(__file__).parent / "fixtures" / "retrieval"
SQUAD = FIXTURES / "squad-slice.json"
TAU2 = FIXTURES / "tau2-banking-slice.json"


def test_metrics_on_hand_made_rankings():
    ranking = ["a", "x", "b", "y", "z", "c"]
    relevant = {"a", "b", "c", "d"}
    assert recall_at(ranking, relevant, 1) == 0.25
    assert recall_at(ranking, relevant, 5) == 0.5
    assert recall_at(ranking, relevant, 10) == 0.75
    dcg = 1 + 1 / 2 + 1 / 2.807354922057604
    ideal = 1 + 1 / 1.584962500721156 + 1 / 2 + 1 / 2.321928094887362
    assert ndcg_at(ranking, relevant, 10) == pytest.approx(dcg / ideal)
    assert mrr_at(["x", "y", "a"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], relevant, 10) == 0.0
    assert score_ranking(["a"], {"a"}) == dict.fromkeys(METRICS, 1.0)
    assert mean_scores([score_ranking(["a"], {"a"}), score_ranking(["x"], {"a"})])["R@1"] == 0.5
    assert mean_scores([]) == dict.fromkeys(METRICS, 0.0)


def test_short_questions_pass_through_unchanged():
    squad = load_set("squad", SQUAD)
    assert not any(is_long(q.text) for q in squad.queries)
    for q in squad.queries[:50]:
        assert reduce_query(q.text) == " ".join(q.text.split())
    assert rewrite([HumanMessage("What is the fee for a wire transfer?")]) == (
        "What is the fee for a wire transfer?"
    )
    follow_up = [
        HumanMessage("How do I open a Blue Account?"),
        AIMessage("..."),
        HumanMessage("and its fees?"),
    ]
    assert rewrite(follow_up) == "open Blue Account: its fees?"


def test_long_messages_put_informative_sentences_first():
    filler = "Please be patient with me and answer politely when you reply to me. " * 6
    text = filler + "I want to dispute a duplicate debit card charge from an ATM withdrawal."
    assert is_long(text)
    reduced = reduce_query(text)
    assert reduced.startswith("I want to dispute a duplicate debit card charge")
    assert sorted(reduced.split()) == sorted(text.split())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("eval-cache")


def _run(cache: Path, out: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        eval_app,
        ["retrieval", *args, "--json", "--cache-dir", str(cache), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_squad_slice_hybrid_beats_bm25_and_dense(cache, tmp_path):
    result = _run(cache, tmp_path, "--dataset", "squad", "--data", str(SQUAD), "--limit", "150")
    assert result["dataset"] == "squad" and result["queries"] == 150
    assert result["documents"] == 89 and result["chunks"] >= 89
    assert set(result["retrievers"]) == {"bm25", "dense", "hybrid"}
    for row in result["retrievers"].values():
        assert set(METRICS) <= set(row) and row["qps"] > 0
        assert all(0.0 <= row[m] <= 1.0 for m in METRICS)
    rows = {name: row["nDCG@10"] for name, row in result["retrievers"].items()}
    assert rows["hybrid"] > rows["bm25"] and rows["hybrid"] > rows["dense"]
    assert rows["hybrid"] >= 0.92
    assert result["retrievers"]["hybrid"]["R@5"] >= 0.96
    md = (tmp_path / "retrieval-squad.md").read_text(encoding="utf-8")
    assert "| hybrid |" in md and "agentic-rag eval retrieval --dataset squad" in md
    assert (tmp_path / "retrieval-squad.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "retrieval-squad.json").read_text(encoding="utf-8"))
    assert saved["dataset"] == "squad" and set(saved["retrievers"]) >= {"hybrid"}
    again = _run(cache, tmp_path, "--dataset", "squad", "--data", str(SQUAD), "--limit", "20")
    assert again["index_cached"] and again["index_seconds"] == result["index_seconds"]


@pytest.mark.slow
def test_tau2_slice_query_reduction_and_floors(cache, tmp_path):
    reduced = _run(cache, tmp_path, "--dataset", "tau2", "--data", str(TAU2))
    raw = _run(cache, tmp_path / "raw", "--dataset", "tau2", "--data", str(TAU2), "--raw-query")
    assert reduced["queries"] == 10 and reduced["documents"] == 70
    assert set(reduced["retrievers"]["hybrid"]["groups"]) == {"dev", "test"}
    ndcg = {name: row["nDCG@10"] for name, row in reduced["retrievers"].items()}
    assert ndcg["hybrid"] > ndcg["bm25"]
    assert ndcg["hybrid"] >= 0.50
    assert ndcg["dense"] > raw["retrievers"]["dense"]["nDCG@10"] + 0.1


def test_cli_rejects_a_missing_data_file(tmp_path):
    result = CliRunner().invoke(
        eval_app, ["retrieval", "--dataset", "squad", "--data", str(tmp_path / "none.json")]
    )
    assert result.exit_code == 2
