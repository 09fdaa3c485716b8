"""Explore token-level late interaction (ColBERT-style MaxSim) as a local-grader feature.

The shipped MiniLM's contextual token states (``last_hidden_state`` of the ONNX model that
``tools/embedder.py`` mean-pools) give, for each question content word-piece, its best cosine
to any token of a passage. Each aggregate below is tried as a FIFTH feature on top of the
shipped four, with the protocol of ``bench/calibrate_grader.py`` (same split, pairs, batches):
5-fold CV over training articles, held-out pair accuracy / ranking / AUC, and the verdicts on
batches retrieved with the own paragraph removed (nothing relevant retrieved).

Variant axes:

- source: ``para`` (tokens of the whole paragraph, run in 254-token windows), ``sent3`` (tokens
  of the 3 best-covering sentences, each run alone as the grader embeds them), ``best``
  (the best of those 3 sentences, each aggregated alone).
- space: ``norm`` (L2-normalised token states) or ``cent`` (the corpus mean token vector
  subtracted first: MiniLM token states are anisotropic).
- weight: ``uni``, ``idfwp`` (word-piece IDF over the 2,067 paragraphs), ``idfw`` (stemmed word
  IDF), ``batch`` (the grader's term weights: names/numbers double, terms shared by the batch
  weigh less).
- subset: ``all`` (mean max-cosine), ``miss`` (only question words absent from the passage;
  1.0 when none are), ``soft`` (soft coverage: present words count 1, absent ones their
  max-cosine), ``t50``/``t65``/``t80`` (weighted share of words whose max-cosine reaches 0.5,
  0.65, 0.8); plus ``every/all`` (mean over every question word-piece, stop words included).

Results: ``bench/results/grader-error-analysis.md``, section "Token-level late interaction".

Usage:
    AGENTIC_RAG_EMBED_THREADS=2 .venv/bin/python bench/explore_grader_tokens.py \
        [--cache bench/results/tmp/grader-cache] [--combos]
    AGENTIC_RAG_EMBED_THREADS=1 .venv/bin/python bench/explore_grader_tokens.py --time
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibrate_grader as cal  # noqa: E402

from nodes.local import grader  # noqa: E402
from nodes.local.text import QUESTION_WORDS, STOPWORDS, content_words, stem  # noqa: E402
from tools.datasets import bm25_distractors, load_squad  # noqa: E402
from tools.embedder import TOKENIZER_PATH, _load, get_embedder  # noqa: E402

CACHE = Path("bench/results/tmp/grader-cache")
WINDOW = 254
CLS, SEP = 101, 102
SOURCES = ("para", "sent3", "best")
SPACES = ("norm", "cent")
WEIGHTS = ("uni", "idfwp", "idfw", "batch")
SUBSETS = ("all", "miss", "soft", "t50", "t65", "t80")
VARIANTS = list(itertools.product(SOURCES, SPACES, WEIGHTS, SUBSETS)) + [
    (src, sp, "every", "all") for src in SOURCES for sp in SPACES
]
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,][A-Za-z0-9]+)*")


def _tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    tok.no_truncation()
    tok.no_padding()
    return tok


def run_windows(windows: list[list[int]], batch: int = 32) -> list[np.ndarray]:
    """Raw ``last_hidden_state`` of each id window (specials added, then stripped)."""
    session, _ = _load()
    out: list[np.ndarray] = [np.zeros((0, 384), np.float32)] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        width = max(len(windows[i]) for i in idx) + 2
        ids = np.zeros((len(idx), width), np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(idx):
            seq = [CLS, *windows[i], SEP]
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feeds)[0]
        for row, i in enumerate(idx):
            out[i] = hidden[row, 1 : 1 + len(windows[i])].astype(np.float32)
    return out


def token_states(texts: list[str], tok) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Word-piece ids and raw token states of each text (long texts run in windows)."""
    encs = tok.encode_batch([t or " " for t in texts], add_special_tokens=False)
    windows, owner = [], []
    for k, enc in enumerate(encs):
        ids = enc.ids or [100]
        for s in range(0, len(ids), WINDOW):
            windows.append(ids[s : s + WINDOW])
            owner.append(k)
    states = run_windows(windows)
    per: list[list[np.ndarray]] = [[] for _ in texts]
    for k, st in zip(owner, states, strict=True):
        per[k].append(st)
    return [np.asarray(e.ids, np.int32) for e in encs], [np.vstack(p) for p in per]


def cached_states(
    texts: list[str], tag: str, tok, cache: Path
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`token_states`, cached as one fp16 ``.npz`` beside ``cache``."""
    file = cache.with_name(f"{cache.stem}-tokens-{tag}.npz")
    if file.exists():
        z = np.load(file)
        if len(z["lens"]) == len(texts):
            cuts = np.cumsum(z["lens"])[:-1]
            states = np.split(z["states"].astype(np.float32), cuts)
            return np.split(z["ids"], cuts), states
    started = time.perf_counter()
    ids, states = token_states(texts, tok)
    print(f"  token states of {len(texts)} {tag}: {time.perf_counter() - started:.0f}s", flush=True)
    file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        file,
        ids=np.concatenate(ids),
        states=np.vstack(states).astype(np.float16),
        lens=np.array([len(s) for s in states]),
    )
    return ids, states


class Question:
    """A question's content word-pieces: stems, term weights, IDF and token states."""

    def __init__(self, text: str, enc, states: np.ndarray, idf_wp, idf_w) -> None:
        spans = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        weights = grader._weighted_terms(text)
        keep, stems = [], []
        for j, (s, _) in enumerate(enc.offsets):
            word = next((w for a, b, w in spans if a <= s < b), None)
            if word is None:
                continue
            word = word.lower().replace("’", "'")
            if word in STOPWORDS or word in QUESTION_WORDS or not content_words(word):
                continue
            keep.append(j)
            stems.append(stem([word])[0])
        self.stems = stems
        self.term_w = np.array([weights.get(s, 1.0) for s in stems])
        self.w = {
            "uni": np.ones(len(keep)),
            "idfwp": np.array([idf_wp[enc.ids[j]] for j in keep]),
            "idfw": np.array([idf_w.get(s, idf_w["__max__"]) for s in stems]),
        }
        self.states = states[keep] if keep else np.zeros((0, 384), np.float32)
        self.every = states


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def aggregate(maxsim: np.ndarray, w: np.ndarray, present: np.ndarray) -> dict[str, float]:
    if not len(maxsim) or w.sum() <= 0:
        return {"all": 0.0, "miss": 1.0, "soft": 0.0, "t50": 0.0, "t65": 0.0, "t80": 0.0}
    miss = ~present
    return {
        **{f"t{round(t * 100)}": float((maxsim >= t) @ w / w.sum()) for t in (0.5, 0.65, 0.8)},
        "all": float(maxsim @ w / w.sum()),
        "miss": float(maxsim[miss] @ w[miss] / w[miss].sum()) if miss.any() else 1.0,
        "soft": float(np.where(present, 1.0, maxsim) @ w / w.sum()),
    }


def batch_features(q: Question, docs: list[int], ctx: dict) -> np.ndarray:
    """``(len(docs), len(VARIANTS))`` token features of one question's batch."""
    passages = [ctx["passage"][d] for d in docs]
    doc_terms = [set(p.terms) for p in passages]
    n = len(docs)
    shared = np.array([sum(s in t for t in doc_terms) for s in q.stems], dtype=float)
    rare = np.where(shared > 0, 1.0 - (shared - 1) / n, 1.0)
    weights = {**q.w, "batch": q.term_w * rare}
    weights_q = grader._weighted_terms(ctx["qtext"])
    out = np.zeros((n, len(VARIANTS)))
    qs = {sp: ctx["qspace"][sp](q.states) for sp in SPACES}
    qe = {sp: ctx["qspace"][sp](q.every) for sp in SPACES}
    for row, (d, p) in enumerate(zip(docs, passages, strict=True)):
        picked = grader._top_sentences(weights_q, p)
        sent_terms = set().union(*(p.sentence_terms[i] for i in picked)) if picked else set()
        vals: dict[tuple, float] = {}
        for sp in SPACES:
            para_sim = (qs[sp] @ ctx["pspace"][sp](d).T).max(1) if len(q.stems) else np.zeros(0)
            sims = [(qs[sp] @ ctx["sspace"][sp](p.sentences[i]).T) for i in picked]
            sent_sim = np.hstack(sims).max(1) if sims and len(q.stems) else np.zeros(len(q.stems))
            pres_para = np.array([s in doc_terms[row] for s in q.stems], bool)
            pres_sent = np.array([s in sent_terms for s in q.stems], bool)
            for wn, w in weights.items():
                for sub, v in aggregate(para_sim, w, pres_para).items():
                    vals[("para", sp, wn, sub)] = v
                for sub, v in aggregate(sent_sim, w, pres_sent).items():
                    vals[("sent3", sp, wn, sub)] = v
                best: dict[str, float] = {}
                for i, sim in zip(picked, sims, strict=True):
                    pres = np.array([s in p.sentence_terms[i] for s in q.stems], bool)
                    agg = aggregate(sim.max(1) if len(q.stems) else np.zeros(0), w, pres)
                    for sub, v in agg.items():
                        best[sub] = max(best.get(sub, -1.0), v)
                for sub in SUBSETS:
                    vals[("best", sp, wn, sub)] = best.get(sub, 0.0)
            every = [(qe[sp] @ ctx["sspace"][sp](p.sentences[i]).T).max(1).mean() for i in picked]
            vals[("para", sp, "every", "all")] = float(
                (qe[sp] @ ctx["pspace"][sp](d).T).max(1).mean()
            )
            vals[("best", sp, "every", "all")] = float(max(every, default=0.0))
            vals[("sent3", sp, "every", "all")] = (
                float(
                    np.hstack([qe[sp] @ ctx["sspace"][sp](p.sentences[i]).T for i in picked])
                    .max(1)
                    .mean()
                )
                if picked
                else 0.0
            )
        out[row] = [vals[v] for v in VARIANTS]
    return out


def augment(pairs: cal.Pairs, extra: dict, cols: list[int]) -> cal.Pairs:
    """A copy of ``pairs`` whose batch rows carry the extra feature columns ``cols``."""
    out = cal.Pairs.__new__(cal.Pairs)
    out.titles = pairs.titles
    out.own_batch = [
        (np.hstack([r, e[:, cols]]), k)
        for (r, k), e in zip(pairs.own_batch, extra["own"], strict=True)
    ]
    out.dis_batch = [
        (np.hstack([r, e[:, cols]]), k)
        for (r, k), e in zip(pairs.dis_batch, extra["dis"], strict=True)
    ]
    out.no_relevant = [
        np.hstack([r, e[:, cols]]) for r, e in zip(pairs.no_relevant, extra["norel"], strict=True)
    ]
    out.own = np.asarray([r[k] for r, k in out.own_batch])
    out.other = np.asarray([r[k] for r, k in out.dis_batch])
    out.alone = pairs.alone
    return out


def evaluate(tr: cal.Pairs, te: cal.Pairs, cols: list[int]) -> dict[str, float]:
    """CV on train, then fit on train and report held-out numbers and no-relevant verdicts."""
    cv = cal.cross_validate(tr, cal.absolute_cv(cols))
    coef, intercept, decision = cal.fit(tr, cols)
    saved = grader.COEFFICIENTS, grader.INTERCEPT
    try:
        full = np.zeros(tr.own.shape[1])
        full[cols] = coef
        grader.COEFFICIENTS, grader.INTERCEPT = tuple(full), intercept
        correct, incorrect = cal.verdict_thresholds(tr, decision)
        pos, neg = grader.logistic(te.own), grader.logistic(te.other)
        found, missing = cal.batch_maxima(te)
    finally:
        grader.COEFFICIENTS, grader.INTERCEPT = saved
    held = cal.pair_metrics(pos, neg, decision)
    _, oracle = cal.best_threshold(np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    return {
        "oracle": oracle,
        "cv": cv["acc"],
        "acc": held["acc"],
        "rank": held["rank"],
        "auc": held["auc"],
        "t": decision,
        "correct_t": correct,
        "incorrect_t": incorrect,
        "norel_correct": float(np.mean(missing >= correct)),
        "norel_decision": float(np.mean(missing >= decision)),
        "norel_incorrect": float(np.mean(missing < incorrect)),
        "found_correct": float(np.mean(found >= correct)),
        "batch_auc": cal.auc(found, missing),
        "coef": coef,
        "intercept": intercept,
    }


def setup(cache: Path):
    """The calibration script's split, batches and base feature rows, plus question data."""
    paragraphs, questions = load_squad(cal.SQUAD)
    train, test = cal.split(questions)
    sample = train + test
    for i, q in enumerate(sample):
        q["i"] = i
    dis = bm25_distractors(paragraphs, sample)
    ranked, qvec = cal.retrieve(paragraphs, sample, cache)
    needed = sorted(
        {p for q in sample for p in ranked[q["i"]]} | {q["para"] for q in sample} | set(dis)
    )
    sentences = sorted({s for p in needed for s in grader._Passage.of(paragraphs[p][1]).sentences})
    embed = cal.lookup_embedder(sentences, cal.embed_all(sentences, cache, "sentences"))
    tr = cal.Pairs(train, dis, ranked, qvec, paragraphs, embed)
    te = cal.Pairs(test, dis, ranked, qvec, paragraphs, embed)
    return paragraphs, sample, train, test, dis, ranked, needed, sentences, tr, te


def token_context(paragraphs, sample, needed, sentences, tok, cache: Path) -> dict:
    """Token states (questions, needed paragraphs, their sentences) and the IDF tables."""
    _, pstates = cached_states([paragraphs[p][1] for p in needed], "paragraphs", tok, cache)
    _, sstates = cached_states(sentences, "sentences", tok, cache)
    _, qstates = cached_states([q["question"] for q in sample], "questions", tok, cache)
    n = len(paragraphs)
    df_wp: dict[int, int] = {}
    df_w: dict[str, int] = {}
    for enc in tok.encode_batch([c for _, c in paragraphs], add_special_tokens=False):
        for i in set(enc.ids):
            df_wp[i] = df_wp.get(i, 0) + 1
    for _, c in paragraphs:
        for s in set(stem(content_words(c))):
            df_w[s] = df_w.get(s, 0) + 1

    def idf(df: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    idf_wp = {i: idf(df_wp.get(i, 0)) for i in range(tok.get_vocab_size())}
    idf_w = {s: idf(d) for s, d in df_w.items()} | {"__max__": idf(0)}
    mean = np.vstack(pstates).mean(0)
    para_at = {p: k for k, p in enumerate(needed)}
    sent_at = {s: k for k, s in enumerate(sentences)}
    pnorm = [unit(s) for s in pstates]
    pcent = [unit(s - mean) for s in pstates]
    snorm = [unit(s) for s in sstates]
    scent = [unit(s - mean) for s in sstates]
    qencs = tok.encode_batch([q["question"] for q in sample], add_special_tokens=False)
    qs = [
        Question(q["question"], e, st, idf_wp, idf_w)
        for q, e, st in zip(sample, qencs, qstates, strict=True)
    ]
    return {
        "passage": {p: grader._Passage.of(paragraphs[p][1]) for p in needed},
        "questions": qs,
        "qspace": {"norm": unit, "cent": lambda x: unit(x - mean)},
        "pspace": {
            "norm": lambda d: pnorm[para_at[d]],
            "cent": lambda d: pcent[para_at[d]],
        },
        "sspace": {
            "norm": lambda s: snorm[sent_at[s]],
            "cent": lambda s: scent[sent_at[s]],
        },
        "mean": mean,
        "idf_wp": idf_wp,
        "idf_w": idf_w,
    }


def extra_features(qs_split, dis, ranked, ctx) -> dict[str, list[np.ndarray]]:
    extra: dict[str, list[np.ndarray]] = {"own": [], "dis": [], "norel": []}
    for q in qs_split:
        i = q["i"]
        ctx["qtext"] = q["question"]
        tq = ctx["questions"][i]
        top = ranked[i][: cal.BATCH]
        own_b, dis_b = cal.with_member(top, q["para"]), cal.with_member(top, dis[i])
        own = batch_features(tq, own_b, ctx)
        extra["own"].append(own)
        extra["dis"].append(own if dis_b == own_b else batch_features(tq, dis_b, ctx))
        norel = [p for p in ranked[i] if p != q["para"]][: cal.BATCH]
        extra["norel"].append(batch_features(tq, norel, ctx))
    return extra


def fmt(name: str, r: dict) -> str:
    return (
        f"| {name} | {r['cv']:.3f} | {r['acc']:.3f} | {r['rank']:.3f} | {r['auc']:.3f} | "
        f"{r['norel_correct']:.3f} / {r['norel_decision']:.3f} | {r['found_correct']:.3f} | "
        f"{r['t']:.2f} / {r['correct_t']:.2f} | {r['norel_incorrect']:.3f} |"
    )


HEADER = (
    "| variant | CV pair acc | held-out pair acc | ranking | AUC | no-rel best >= correct_t / "
    ">= decision_t | own-retrieved Correct | decision_t / correct_t | no-rel Incorrect |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def explore(cache: Path, combos: bool) -> None:
    started = time.perf_counter()
    paragraphs, sample, train, test, dis, ranked, needed, sentences, tr, te = setup(cache)
    print(f"base rows ready ({time.perf_counter() - started:.0f}s)", flush=True)
    tok = _tokenizer()
    ctx = token_context(paragraphs, sample, needed, sentences, tok, cache)
    print(f"token context ready ({time.perf_counter() - started:.0f}s)", flush=True)
    file = cache.with_name(f"{cache.stem}-tokfeat2.npz")
    if file.exists():
        z = np.load(file, allow_pickle=True)
        ex_tr, ex_te = z["tr"].item(), z["te"].item()
    else:
        ex_tr = extra_features(train, dis, ranked, ctx)
        ex_te = extra_features(test, dis, ranked, ctx)
        np.savez(file, tr=np.array(ex_tr, dtype=object), te=np.array(ex_te, dtype=object))
    print(f"token features ready ({time.perf_counter() - started:.0f}s)", flush=True)
    base = list(range(len(grader.FEATURES)))
    print(HEADER)
    shipped = evaluate(tr, te, base)
    print(fmt("shipped 4 features", shipped), flush=True)
    results = {}
    for v, name in enumerate(VARIANTS):
        a_tr, a_te = augment(tr, ex_tr, [v]), augment(te, ex_te, [v])
        r = evaluate(a_tr, a_te, [*base, len(base)])
        results[name] = r
        print(fmt("+ " + "/".join(name), r), flush=True)
    best = sorted(results, key=lambda k: -results[k]["cv"])[:8]
    print(
        f"\nbest by CV (shipped: held-out acc at its own best threshold {shipped['oracle']:.3f}):"
    )
    for name in best:
        r = results[name]
        print(
            fmt("/".join(name), r),
            f"held-out acc at its own best threshold {r['oracle']:.3f};",
            "coef",
            np.round(r["coef"], 3),
            round(r["intercept"], 3),
        )
    if combos:
        print("\npairs of the top-8 by CV:")
        for a, b in itertools.combinations(best, 2):
            cols = [VARIANTS.index(a), VARIANTS.index(b)]
            r = evaluate(
                augment(tr, ex_tr, cols),
                augment(te, ex_te, cols),
                [*base, len(base), len(base) + 1],
            )
            print(fmt("+ " + "/".join(a) + " + " + "/".join(b), r), flush=True)
    print(f"total {time.perf_counter() - started:.0f}s")


def time_cost(cache: Path, n_questions: int = 24, repeats: int = 2) -> None:
    """ms per question to grade its top-4 on this process's threads: base vs with tokens.

    ``sent3``: one forward pass over the question and the picked sentences returns both the
    pooled vectors (for ``sentence_cosine``) and the token states (for MaxSim). ``para``: the
    same, plus a second forward pass over the 4 whole passages. Embedder cache cleared each time.
    """
    paragraphs, questions = load_squad(cal.SQUAD)
    train, test = cal.split(questions)
    for i, q in enumerate(train + test):
        q["i"] = i
    ranked, _ = cal.retrieve(paragraphs, train + test, cache)
    sample = test[:n_questions]
    tok = _tokenizer()
    embedder = get_embedder()
    mean = np.zeros(384, np.float32)
    idf_wp = dict.fromkeys(range(tok.get_vocab_size()), 1.0)
    idf_w = {"__max__": 1.0}
    maxsim_ms: list[float] = []

    def token_grade(question: str, docs: list[str], source: str) -> None:
        weights = grader._weighted_terms(question)
        passages = [grader._Passage.of(t) for t in docs]
        picked = [grader._top_sentences(weights, p) for p in passages]
        sents = [p.sentences[i] for p, idx in zip(passages, picked, strict=True) for i in idx]
        _, states = token_states([*sents, question], tok)
        pooled = np.asarray([unit(s.mean(0)) for s in states], np.float32)
        table = dict(zip([*sents, question], pooled, strict=True))
        grader.features(question, docs, embed=lambda b: np.asarray([table[t] for t in b]))
        if source == "para":
            _, doc_states = token_states(docs, tok)
        t0 = time.perf_counter()
        enc = tok.encode(question, add_special_tokens=False)
        qn = unit(Question(question, enc, states[-1], idf_wp, idf_w).states - mean)
        at = 0
        for k in range(len(docs)):
            if source == "para":
                (qn @ unit(doc_states[k] - mean).T).max(1)
            elif picked[k]:
                mats = [unit(states[at + j] - mean) for j in range(len(picked[k]))]
                (qn @ np.vstack(mats).T).max(1)
            at += len(picked[k])
        maxsim_ms.append((time.perf_counter() - t0) * 1000)

    runs: dict[str, list[float]] = {"base": [], "sent3": [], "para": []}
    for _ in range(repeats):
        for q in sample:
            docs = [paragraphs[p][1] for p in ranked[q["i"]][: cal.BATCH]]
            for name in runs:
                embedder._cache.clear()
                t0 = time.perf_counter()
                if name == "base":
                    grader.features(q["question"], docs)
                else:
                    token_grade(q["question"], docs, name)
                runs[name].append((time.perf_counter() - t0) * 1000)
    for name, ms in runs.items():
        extra = np.subtract(ms, runs["base"])
        print(
            f"{name:<6} median {statistics.median(ms):.1f} ms, p90 {np.quantile(ms, 0.9):.1f} ms; "
            f"paired difference to base: median {np.median(extra):+.1f} ms "
            f"over {len(ms)} grades"
        )
    print(f"MaxSim part alone (question tokens, 4 passages): median {np.median(maxsim_ms):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--combos", action="store_true", help="also try pairs of the best")
    parser.add_argument("--time", action="store_true", help="measure ms per question instead")
    args = parser.parse_args()
    if args.time:
        time_cost(args.cache)
    else:
        explore(args.cache, args.combos)


if __name__ == "__main__":
    main()
