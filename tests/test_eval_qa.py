"""QA evaluation: SQuAD metrics on hand-made cases, comparisons, and one end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.eval import eval_app
from nodes.local.generate import NOT_FOUND, PREFIX
from tools.evaluation import qa
from tools.evaluation.qa import aggregate, compare
from tools.evaluation.qa_metrics import (
    answer_text,
    citation_key,
    citation_support,
    contains_gold,
    exact_match,
    f1_score,
    is_abstention,
    normalize_answer,
    percentile,
    strip_caveats,
)

SQUAD = Path(__file__).parent / "fixtures" / "retrieval" / "squad-slice.json"


def test_squad_normalisation_exact_match_and_f1():
    assert normalize_answer("The Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("  an  Apple a day ") == "apple day"
    assert normalize_answer("Denver's") == "denvers"
    assert exact_match("the Denver Broncos.", ["Carolina", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0
    # 2 common tokens: precision 2/3, recall 2/2, F1 0.8; the best gold answer wins
    assert f1_score("Denver Broncos won", ["Broncos", "Denver Broncos"]) == pytest.approx(0.8)
    assert f1_score("Carolina", ["Denver Broncos"]) == 0.0
    assert f1_score("", ["x"]) == 0.0 and f1_score("x", []) == 0.0


def test_answer_text_strips_prefix_markers_and_abstentions():
    answer = f"{PREFIX}\n- Super Bowl 50 was won by the Broncos. [1]\n- It was in 2016 … [3]"
    text = answer_text(answer, PREFIX, NOT_FOUND)
    assert text == "Super Bowl 50 was won by the Broncos. It was in 2016"
    assert answer_text(NOT_FOUND, PREFIX, NOT_FOUND) == ""
    caveat = "\n\nRetrieval was incorrect and web search could not be used (off); internal only."
    assert is_abstention(NOT_FOUND + caveat, NOT_FOUND) and not is_abstention(answer, NOT_FOUND)
    assert answer_text(NOT_FOUND + caveat, PREFIX, NOT_FOUND) == ""
    more = "\n\nCaveat: this answer may not fully address the question (1 query rewrite(s))."
    assert answer_text(answer + caveat + more, PREFIX, NOT_FOUND) == text
    assert strip_caveats("Para one [1].\n\nWeb search is a topic [2].").endswith("topic [2].")
    assert answer_text("Paris [1][2], as cited.", PREFIX, NOT_FOUND) == "Paris, as cited."
    assert contains_gold(text, ["broncos"]) and contains_gold(text, ["The 2016"])
    assert not contains_gold(text, ["201", "Super Bowl 5"])
    assert not contains_gold(text, ["the", ""])
    assert not contains_gold("", ["Broncos"])


def test_citation_precision_counts_own_paragraph_or_gold_text():
    texts = {"p1": "Held in Santa Clara.", "p2": "Unrelated text.", "p3": "In Santa Clara too."}

    def cite(key):
        return {"source": "vectorstore", "location": f"corpus/{key}.md § Title", "snippet": "x"}

    assert citation_key(cite("p2")) == "p2"
    assert citation_key({"source": "web", "location": "https://x"}) is None
    cites = [cite("p1"), cite("p2"), cite("p1"), cite("p3")]
    assert citation_support(cites, ["Santa Clara"], "p9", texts) == (pytest.approx(2 / 3), False)
    assert citation_support([cite("p2")], ["Santa Clara"], "p2", texts) == (1.0, True)
    assert citation_support([], ["Santa Clara"], "p1", texts) == (None, False)
    web = {"source": "web", "location": "https://x", "snippet": "Santa Clara, CA"}
    assert citation_support([web, cite("p2")], ["Santa Clara"], "p1", texts) == (0.5, False)


def _row(contains, f1, precision, *, grade="correct", abstained=False, seconds=1.0):
    return {
        "contains_gold": contains,
        "exact_match": 0.0,
        "f1": f1,
        "citation_precision": precision,
        "cited_own": bool(precision),
        "abstained": abstained,
        "grade": grade,
        "llm_calls": 2,
        "tokens": 100,
        "seconds": seconds,
        "errors": [],
    }


def test_aggregate_means_rates_and_percentiles():
    rows = [
        _row(True, 0.5, 1.0, seconds=1.0),
        _row(False, 0.0, 0.5, grade="ambiguous", seconds=2.0),
        _row(False, 0.0, None, grade=None, abstained=True, seconds=3.0),
        _row(True, 0.3, 1.0, grade="incorrect", seconds=10.0),
    ]
    m = aggregate(rows)
    assert m["questions"] == 4 and m["contains_gold"] == 0.5
    assert m["contains_gold_answered"] == pytest.approx(0.6667, abs=1e-4)
    assert m["f1"] == pytest.approx(0.2) and m["abstention"] == 0.25
    assert m["citation_precision"] == pytest.approx(0.8333, abs=1e-4)
    assert m["answers_with_citations"] == 3 and m["own_paragraph_cited"] == 0.75
    assert m["grade_counts"] == {"correct": 1, "ambiguous": 1, "incorrect": 1, "none": 1}
    assert m["grade_correct"] == 0.25
    assert m["latency_p50"] == 2.5 and m["latency_p95"] == pytest.approx(8.95)
    assert m["llm_calls"] == 2 and m["tokens_total"] == 400
    assert percentile([], 50) == 0.0 and percentile([4.0], 95) == 4.0


def test_compare_flags_only_quality_drops_beyond_max_drop():
    old = {"contains_gold": 0.80, "f1": 0.30, "citation_precision": 0.90, "latency_p50": 1.0}
    new = {"contains_gold": 0.79, "f1": 0.25, "citation_precision": 0.95, "latency_p50": 3.0}
    rows, bad = compare({"metrics": old}, {"metrics": new}, 0.02)
    assert [r[0] for r in rows] == ["contains_gold", "f1", "citation_precision", "latency_p50"]
    assert rows[0][3] == pytest.approx(-0.01)
    assert len(bad) == 1 and bad[0].startswith("f1 dropped by 0.050")
    assert compare(old, new, 0.05)[1] == []
    assert compare(old, {"f1": 0.30}, 0.0)[1] == []


def _saved(tmp_path: Path, name: str, **metrics) -> Path:
    path = tmp_path / name
    base = {"contains_gold": 0.8, "f1": 0.3, "citation_precision": 0.9}
    result = {"dataset": "squad", "sample": {"questions": 5, "seed": 1}}
    path.write_text(json.dumps({**result, "metrics": {**base, **metrics}}), encoding="utf-8")
    return path


def test_compare_command_exit_codes(tmp_path):
    old = _saved(tmp_path, "old.json")
    same = _saved(tmp_path, "same.json", contains_gold=0.79, f1=0.5)
    worse = _saved(tmp_path, "worse.json", citation_precision=0.85)
    runner = CliRunner()
    ok = runner.invoke(eval_app, ["compare", str(old), str(same)])
    assert ok.exit_code == 0, ok.output
    assert "contains_gold" in ok.stdout and "-0.010" in ok.stdout
    bad = runner.invoke(eval_app, ["compare", str(old), str(worse), "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["regressions"][0].startswith("citation_precision dropped")
    loose = runner.invoke(eval_app, ["compare", str(old), str(worse), "--max-drop", "0.1"])
    assert loose.exit_code == 0
    missing = runner.invoke(eval_app, ["compare", str(old), str(tmp_path / "none.json")])
    assert missing.exit_code == 2


def test_qa_command_compares_with_an_earlier_result(tmp_path, monkeypatch):
    seen = {}

    def fake_run_qa(dataset, **kwargs):
        seen.update(kwargs)
        metrics = {"contains_gold": 0.7, "f1": 0.3, "citation_precision": 0.9, "questions": 5}
        return {"dataset": dataset, "sample": {"questions": 5, "seed": 1}, "metrics": metrics}

    monkeypatch.setattr(qa, "run_qa", fake_run_qa)
    old = _saved(tmp_path, "old.json")
    args = ["qa", "--limit", "5", "--no-report", "--json", "--generator-model", "local"]
    result = CliRunner().invoke(eval_app, [*args, "--compare", str(old)])
    assert result.exit_code == 1, result.output
    shown = json.loads(result.stdout)
    assert shown["comparison"]["regressions"][0].startswith("contains_gold dropped by 0.100")
    assert seen["models"]["generator_model"] == "local" and seen["seed"] == 1
    assert seen["command"] == (
        "agentic-rag eval qa --dataset squad --limit 5 --seed 1 --generator-model local "
        f"--compare {old} --max-drop 0.02 --json"
    )
    passed = CliRunner().invoke(eval_app, [*args, "--compare", str(old), "--max-drop", "0.2"])
    assert passed.exit_code == 0, passed.output


def tiny_squad(path: Path, per_article: int = 5) -> Path:
    """The first ``per_article`` paragraphs of each article of the SQuAD fixture (20 in all)."""
    raw = json.loads(SQUAD.read_text(encoding="utf-8"))
    data = [{**a, "paragraphs": a["paragraphs"][:per_article]} for a in raw["data"]]
    path.write_text(json.dumps({"version": raw["version"], "data": data}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_qa_end_to_end_on_a_tiny_corpus(tmp_path):
    data = tiny_squad(tmp_path / "tiny.json")
    out = tmp_path / "out"
    args = ["qa", "--data", str(data), "--limit", "5", "--json", "--out-dir", str(out)]
    result = CliRunner().invoke(eval_app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["documents"] == 20 and shown["sample"]["questions"] == 5
    assert shown["models"] == dict.fromkeys(qa.MODEL_ROLES, "local")
    m = shown["metrics"]
    assert m["questions"] == 5 and m["failed"] == 0 and m["llm_calls"] == 0
    assert sum(m["grade_counts"].values()) == 5 and m["contains_gold"] >= 0.2
    for key in ("contains_gold", "exact_match", "f1", "abstention", "own_paragraph_cited"):
        assert 0.0 <= m[key] <= 1.0
    assert 0 < m["latency_p50"] <= m["latency_p95"]
    saved = json.loads((out / "qa-squad.json").read_text(encoding="utf-8"))
    assert len(saved["rows"]) == 5 and saved["metrics"] == m
    keys = {f"p{i:05d}" for i in range(20)}
    for row in saved["rows"]:
        assert row["paragraph"] in keys and set(row["cited"]) <= keys
    md = (out / "qa-squad.md").read_text(encoding="utf-8")
    assert "agentic-rag eval qa --dataset squad --data" in md and "seed 1" in md
    assert (out / "qa-squad.png").read_bytes()[:4] == b"\x89PNG"
    saved_path = str(out / "qa-squad.json")
    again = CliRunner().invoke(eval_app, ["compare", saved_path, saved_path])
    assert again.exit_code == 0, again.output
