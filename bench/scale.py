"""Scale: offline `ask` and hybrid retrieval on a 100k-chunk index vs a 10k subset; memory, disk.

Corpus (real text, all ingested with `tools.ingest.ingest_paths` and the default chunking):
the tau2-bench banking knowledge base (698 Markdown files), the 2,067 SQuAD v1.1 dev
paragraphs (one Markdown file each, ``# <article>`` then the paragraph), the Python 3.11
documentation sources (``python3.11-doc``, PSF license) and the PostgreSQL 15 manual
(``postgresql-doc-15``, PostgreSQL license), both fetched with ``apt-get download`` and
unpacked with ``dpkg-deb`` under ``bench/results/tmp/scale/``. That base holds ~32k chunks
(31.8k distinct texts); the 100k index ingests it three times, plus a fourth partial copy,
under the folders ``copy-1`` ... ``copy-4`` (hard links, so every copy has its own paths and
chunk ids), up to the first file that brings the count to 100,000. The 10k index ingests
banking, SQuAD and the first PostgreSQL pages (``subset/``).

The build runs once, in a child process under ``nice -n 10``, and is cached in
``bench/results/tmp/scale/``. Ingestion has no content-hash reuse across files; the build sets
the process embedder's LRU cache (``get_embedder().cache_size``) large enough to hold every
distinct chunk text, so each one is embedded once and the repeats cost only their storage.

The measurement run (a fresh process) asks the same questions (banking document titles, SQuAD
questions, PostgreSQL page titles) of both indexes, interleaved, the embedder's cache cleared
before each call: the whole graph (``build_graph`` + ``invoke``, no checkpointer, so each
question is a fresh thread) and the retrieval call alone (`KnowledgeBase.search`, hybrid).
Memory: RSS of this process as each index is loaded, and of a child process per index that
loads only that one; disk: the data directory (Chroma + BM25).

Usage:
    .venv/bin/python bench/scale.py [--questions 90]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import host  # noqa: E402
from tools.chunking import chunk_sections  # noqa: E402
from tools.demo_corpus import export_banking_corpus  # noqa: E402
from tools.embedder import get_embedder  # noqa: E402
from tools.ingest import discover, ingest_paths  # noqa: E402
from tools.knowledge_base import _top_positive  # noqa: E402
from tools.loaders import Fields, load, read_bytes, source_type  # noqa: E402
from tools.vectorstore import list_kbs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "tmp" / "scale"
SQUAD = Path(os.environ.get("AGENTIC_RAG_SHARED_DATA", ROOT.parent / "shared" / "data"))
SQUAD_FILE = SQUAD / "squad" / "squaddev_v1.1.json"
PACKAGES = {
    "python": ("python3.11-doc", "usr/share/doc/python3.11/html/_sources"),
    "postgres": ("postgresql-doc-15", "usr/share/doc/postgresql-doc-15/html"),
}
TARGET = 100_000
SUBSET = 10_000
BUILD_CACHE = 1 << 17
NUMBERING = r"^((Appendix|Chapter|Part) )?[A-Z0-9]+(\.[A-Z0-9]+)*\.\s+"
BUILD_FILE = WORK / "build.json"
LARGE = WORK / "data-100k"
SMALL = WORK / "data-10k"


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB: ``VmHWM``, which is what
    ``ru_maxrss`` reports except that a child started by a larger parent inherits the parent's
    ``ru_maxrss`` across ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def fetch_package(name: str) -> Path:
    """A Debian doc package's documentation folder (downloaded and unpacked on first use)."""
    package, inner = PACKAGES[name]
    folder = WORK / "pkg" / inner
    if not folder.exists():
        debs = WORK / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        (deb,) = debs.glob(f"{package}_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(WORK / "pkg")], check=True)
    return folder


def squad_articles() -> list[dict[str, Any]]:
    return json.loads(SQUAD_FILE.read_text(encoding="utf-8"))["data"]


def squad_path(article: int, paragraph: int) -> str:
    return f"squad/a{article:02d}/p{paragraph:03d}.md"


def write_squad(dest: Path) -> None:
    for a, article in enumerate(squad_articles()):
        title = article["title"].replace("_", " ")
        for p, para in enumerate(article["paragraphs"]):
            path = dest.parent / squad_path(a, p)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {title}\n\n{para['context'].strip()}\n", encoding="utf-8")


def base_corpus() -> Path:
    """The distinct documents: banking/, squad/, python/, postgres/ (built on first use)."""
    base = WORK / "base"
    done = base / ".complete"
    if done.exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    export_banking_corpus(base / "banking")
    write_squad(base / "squad")
    for name in PACKAGES:
        shutil.copytree(fetch_package(name), base / name, copy_function=os.link)
    done.touch()
    return base


def chunk_counts(base: Path) -> dict[str, int]:
    """Chunks per file of ``base`` (relative to it), as the default ingest cuts them."""
    counts: dict[str, int] = {}
    for file, rel, problem in discover(sorted(base.iterdir())):
        kind = source_type(file)
        if problem or kind is None:
            continue
        sections = load(read_bytes(file), file, Fields())
        counts[rel] = len(chunk_sections(sections, rel_path=rel, source_type=str(kind)))
    return counts


def link_files(base: Path, rels: list[str], dest: Path) -> None:
    for rel in rels:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(base / rel, target)


def layout(base: Path) -> dict[str, Any]:
    """Write the 100k corpus (copy-N/) and the 10k subset (subset/) as hard links."""
    counts = chunk_counts(base)
    files = list(counts)
    copies: list[list[str]] = []
    total = 0
    while total < TARGET:
        chosen: list[str] = []
        for rel in files:
            if total >= TARGET:
                break
            chosen.append(rel)
            total += counts[rel]
        copies.append(chosen)
    corpus = WORK / "corpus"
    for n, chosen in enumerate(copies, 1):
        link_files(base, chosen, corpus / f"copy-{n}")
    subset = [r for r in files if r.startswith(("banking/", "squad/"))]
    small = sum(counts[r] for r in subset)
    for rel in (r for r in files if r.startswith("postgres/")):
        if small >= SUBSET:
            break
        subset.append(rel)
        small += counts[rel]
    link_files(base, subset, WORK / "subset")
    by_source: dict[str, dict[str, int]] = {}
    for rel, n in counts.items():
        row = by_source.setdefault(rel.split("/")[0], {"files": 0, "chunks": 0})
        row["files"] += 1
        row["chunks"] += n
    return {
        "base": by_source,
        "base_chunks": sum(counts.values()),
        "copies": [
            {"files": len(c), "chunks": sum(counts[r] for r in c), "complete": len(c) == len(files)}
            for c in copies
        ],
        "expected_chunks": total,
        "subset_files": len(subset),
        "subset_expected_chunks": small,
    }


def kb_chunks(data_dir: Path) -> int:
    return next((kb["chunks"] for kb in list_kbs(str(data_dir)) if kb["name"] == "default"), 0)


def build() -> dict[str, Any]:
    """Build both indexes through `ingest_paths`, timing the embedding separately."""
    started = time.perf_counter()
    plan = layout(base_corpus())
    prepare_s = time.perf_counter() - started
    embedder = get_embedder()
    embedder.cache_size = BUILD_CACHE
    stats = {"texts": 0, "seconds": 0.0}
    uncached = embedder._embed_uncached

    def timed(texts: list[str]) -> Any:
        t0 = time.perf_counter()
        try:
            return uncached(texts)
        finally:
            stats["texts"] += len(texts)
            stats["seconds"] += time.perf_counter() - t0
            if stats["texts"] // 2000 != (stats["texts"] - len(texts)) // 2000:
                print(f"embedded {stats['texts']} texts in {stats['seconds']:.0f} s", flush=True)

    embedder._embed_uncached = timed  # type: ignore[method-assign]
    out: dict[str, Any] = {"plan": plan, "prepare_s": round(prepare_s, 1)}
    for key, data_dir, paths in (
        ("large", LARGE, sorted((WORK / "corpus").iterdir())),
        ("small", SMALL, [WORK / "subset"]),
    ):
        resumed = kb_chunks(data_dir) > 0
        before = dict(stats)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        report = ingest_paths(paths, data_dir=str(data_dir))
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        assert report.ok, report.failures[:5]
        out[key] = {
            "chunks": kb_chunks(data_dir),
            "files": report.files_ingested,
            "chunks_added": report.chunks_added,
            "seconds": round(report.seconds, 1),
            "cpu_seconds": round(
                cpu_after.ru_utime + cpu_after.ru_stime - cpu.ru_utime - cpu.ru_stime, 1
            ),
            "texts_embedded": stats["texts"] - before["texts"],
            "embed_seconds": round(stats["seconds"] - before["seconds"], 1),
            "resumed": resumed,
        }
        print(f"built {key}: {json.dumps(out[key])}", flush=True)
    out["finished"] = datetime.now().isoformat(timespec="seconds")
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    BUILD_FILE.write_text(json.dumps(out, indent=2))
    return out


def ensure_built() -> dict[str, Any]:
    """The cached build's record, building in a niced child process when missing."""
    if not BUILD_FILE.exists():
        subprocess.run(
            [sys.executable, __file__, "--build-only"],
            check=True,
            preexec_fn=lambda: os.nice(10),
        )
    return json.loads(BUILD_FILE.read_text())


def loader_title(file: Path) -> str:
    return load(read_bytes(file), file, Fields())[0].title


def questions(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` questions whose answer is in both indexes: banking document titles, SQuAD dev
    questions and PostgreSQL page titles, in turn; each with the file it comes from."""
    rng = random.Random(seed)
    per = -(-n // 3)
    banking = []
    for path in sorted((WORK / "base" / "banking").glob("*.md")):
        title = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        if title and title not in {b["title"] for b in banking}:
            banking.append({"title": title, "path": f"banking/{path.name}"})
    bank = [
        {"group": "banking", "q": f"What should I know about {b['title'].lower()}?", **b}
        for b in rng.sample(banking, per)
    ]
    paras = [
        (a, p, art) for a, art in enumerate(squad_articles()) for p in range(len(art["paragraphs"]))
    ]
    squad = []
    for a, p, art in rng.sample(paras, per):
        qa = art["paragraphs"][p]["qas"][0]
        squad.append({"group": "squad", "q": qa["question"], "path": squad_path(a, p)})
    pages = []
    for file in sorted((WORK / "subset" / "postgres").rglob("*.html")):
        title = re.sub(NUMBERING, "", loader_title(file).replace("\xa0", " ")).strip()
        if len(title) >= 12 and not title.startswith("Release"):
            pages.append({"title": title, "path": file.relative_to(WORK / "subset").as_posix()})
    pg = [
        {"group": "postgres", "q": f"What should I know about {p['title']}?", "path": p["path"]}
        for p in rng.sample(pages, per)
    ]
    mixed = [q for trio in zip(bank, squad, pg, strict=True) for q in trio]
    return mixed[:n]


def source_path(path_or_location: str) -> str:
    """``copy-2/banking/x.md § Fees`` -> ``banking/x.md`` (the copy or subset folder dropped)."""
    return path_or_location.split(" § ")[0].split("#")[0].split("/", 1)[-1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def probe(data_dir: str) -> None:
    """Child process: RSS before and after loading one index (first search), as JSON."""
    from tools.vectorstore import open_kb

    embedder = get_embedder()
    embedder.embed(["warm up the embedder"])
    before = rss_mb()
    t0 = time.perf_counter()
    kb = open_kb(data_dir, "default")
    kb.search("what is the overdraft fee?", 4)
    load_s = time.perf_counter() - t0
    after = rss_mb()
    t1 = time.perf_counter()
    kb.search("how do I create an index concurrently?", 4)
    second_ms = (time.perf_counter() - t1) * 1000
    for item in questions(90, 1):
        kb.search(item["q"], 4)
    searched = rss_mb()
    print(
        json.dumps(
            {
                "rss_before_mb": round(before, 1),
                "rss_after_mb": round(after, 1),
                "index_rss_mb": round(after - before, 1),
                "rss_after_90_searches_mb": round(searched, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "first_search_s": round(load_s, 2),
                "second_search_ms": round(second_ms, 1),
            }
        )
    )


def run_probe(data_dir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--probe", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = host.cpu_model()
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def measure(n_questions: int, seed: int) -> dict[str, Any]:
    """Ask every question of both indexes, interleaved; time the turn and the search."""
    from graphs import build_graph
    from state.context import Context
    from tools.vectorstore import open_for

    rss_start = rss_mb()
    app = build_graph()
    embedder = get_embedder()
    embedder.embed(["warm up the embedder"])
    rss_base = rss_mb()
    names = {"10k": SMALL, "100k": LARGE}
    ctxs = {name: Context(data_dir=str(path)) for name, path in names.items()}
    kbs: dict[str, Any] = {}
    rss_loaded: dict[str, float] = {}
    for name, ctx in ctxs.items():
        kbs[name] = open_for(ctx)
        kbs[name].search("warm up: what is the overdraft fee?", ctx.top_k)
        app.invoke({"messages": [("user", "warm up: what is the overdraft fee?")]}, context=ctx)
        rss_loaded[name] = rss_mb()
    qs = questions(n_questions, seed)
    rows: list[dict[str, Any]] = []
    load_start = os.getloadavg()[0]
    for i, item in enumerate(qs):
        order = list(ctxs) if i % 2 == 0 else list(reversed(ctxs))
        for name in order:
            ctx, kb = ctxs[name], kbs[name]
            embedder._cache.clear()
            t0 = time.perf_counter()
            out = app.invoke({"messages": [("user", item["q"])]}, context=ctx)
            ask_ms = (time.perf_counter() - t0) * 1000
            embedder._cache.clear()
            t0 = time.perf_counter()
            docs = kb.search(item["q"], ctx.top_k)
            search_ms = (time.perf_counter() - t0) * 1000
            embedder._cache.clear()
            t0 = time.perf_counter()
            qvec = kb.embed_query(item["q"])
            t1 = time.perf_counter()
            kb.collection.query(
                query_embeddings=[qvec.tolist()], n_results=50, include=["distances"]
            )
            t2 = time.perf_counter()
            kb.count()
            t3 = time.perf_counter()
            index = kb.lexical()
            t3b = time.perf_counter()
            scores = index.scores(item["q"])
            t4 = time.perf_counter()
            _top_positive(scores, 50)
            t5 = time.perf_counter()
            cited = {source_path(c["location"]) for c in out.get("citations", [])}
            rows.append(
                {
                    "index": name,
                    "group": item["group"],
                    "ask_ms": ask_ms,
                    "search_ms": search_ms,
                    "embed_ms": (t1 - t0) * 1000,
                    "dense_ms": (t2 - t1) * 1000,
                    "count_ms": (t3 - t2) * 1000,
                    "lexical_ms": (t3b - t3) * 1000,
                    "bm25_ms": (t4 - t3b) * 1000,
                    "sort_ms": (t5 - t4) * 1000,
                    "nodes": out["usage"]["ms_per_node"],
                    "hit": item["path"] in {source_path(d["metadata"]["path"]) for d in docs},
                    "cited": item["path"] in cited,
                }
            )
    return {
        "questions": qs,
        "rows": rows,
        "rss": {
            "after_imports_mb": round(rss_start, 1),
            "after_graph_and_embedder_mb": round(rss_base, 1),
            **{f"after_loading_{k}_mb": round(v, 1) for k, v in rss_loaded.items()},
            "after_questions_mb": round(rss_mb(), 1),
            "peak_mb": round(peak_rss_mb(), 1),
        },
        "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def report(built: dict[str, Any], run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = run["rows"]
    indexes = ["10k", "100k"]
    chunks = {"10k": kb_chunks(SMALL), "100k": kb_chunks(LARGE)}
    stats: dict[str, Any] = {}
    for name in indexes:
        mine = [r for r in rows if r["index"] == name]
        node_names = list(dict.fromkeys(n for r in mine for n in r["nodes"]))
        stats[name] = {
            "chunks": chunks[name],
            "ask_ms": summary([r["ask_ms"] for r in mine]),
            "search_ms": summary([r["search_ms"] for r in mine]),
            "embed_ms": summary([r["embed_ms"] for r in mine]),
            "dense_ms": summary([r["dense_ms"] for r in mine]),
            "count_ms": summary([r["count_ms"] for r in mine]),
            "lexical_ms": summary([r["lexical_ms"] for r in mine]),
            "bm25_ms": summary([r["bm25_ms"] for r in mine]),
            "sort_ms": summary([r["sort_ms"] for r in mine]),
            "node_p50_ms": {
                n: round(statistics.median([r["nodes"].get(n, 0.0) for r in mine]), 1)
                for n in node_names
            },
            "by_group": {
                g: {
                    "questions": len([r for r in mine if r["group"] == g]),
                    "ask_ms": summary([r["ask_ms"] for r in mine if r["group"] == g]),
                    "search_ms": summary([r["search_ms"] for r in mine if r["group"] == g]),
                    "hit_at_k": round(
                        statistics.fmean([r["hit"] for r in mine if r["group"] == g]), 3
                    ),
                    "cited": round(
                        statistics.fmean([r["cited"] for r in mine if r["group"] == g]), 3
                    ),
                }
                for g in ("banking", "squad", "postgres")
            },
            "disk_mb": {
                "chroma": round(disk_mb(names_dir(name) / "chroma"), 1),
                "bm25": round(disk_mb(names_dir(name) / "bm25"), 1),
            },
        }
    stats["100k"]["ask_ms_adjusted"] = summary(adjusted(rows))
    stats["slowest"] = {
        name: [
            {
                "ask_ms": round(r["ask_ms"]),
                "group": r["group"],
                "nodes": {
                    k: round(v) for k, v in sorted(r["nodes"].items(), key=lambda kv: -kv[1])[:3]
                },
            }
            for r in sorted((r for r in rows if r["index"] == name), key=lambda r: -r["ask_ms"])[:3]
        ]
        for name in indexes
    }
    return {
        "date": datetime.now().isoformat(timespec="minutes"),
        "machine": machine(),
        "command": f"python bench/scale.py --questions {args.questions} --seed {args.seed}",
        "build": built,
        "questions": len(run["questions"]),
        "indexes": stats,
        "rss_in_process": run["rss"],
        "rss_probe": {name: run_probe(names_dir(name)) for name in indexes},
        "load_avg_start_end": run["load_avg"],
        "target_p95_ms": 1000,
    }


SIZE_DEPENDENT = ("select_sources", "retrieve")


def adjusted(rows: list[dict[str, Any]]) -> list[float]:
    """Per question: its 10k turn with the index-size-dependent nodes (`SIZE_DEPENDENT`) timed
    on 100k instead. The 100k index returns 3-4 copies of the same chunk, which makes grading
    cheaper there; this estimates a 100k turn on distinct results."""
    pairs: dict[str, dict[str, dict[str, Any]]] = {}
    for i, row in enumerate(rows):
        pairs.setdefault(str(i // 2), {})[row["index"]] = row

    def size_part(row: dict[str, Any]) -> float:
        return sum(row["nodes"].get(n, 0.0) for n in SIZE_DEPENDENT)

    return [p["10k"]["ask_ms"] - size_part(p["10k"]) + size_part(p["100k"]) for p in pairs.values()]


def names_dir(name: str) -> Path:
    return SMALL if name == "10k" else LARGE


def write_markdown(res: dict[str, Any], path: Path) -> str:
    s, b = res["indexes"], res["build"]
    large, small = s["100k"], s["10k"]
    plan = b["plan"]
    ratio = {key: large[key]["p50"] / small[key]["p50"] for key in ("ask_ms", "search_ms")}
    met = large["ask_ms"]["p95"] <= res["target_p95_ms"]
    lines = [
        "# Scale: 100k chunks vs a 10k subset (offline `ask`, hybrid retrieval, memory, disk)",
        "",
        f"{res['date']} · {res['machine']} · `{res['command']}`",
        "",
        "## Corpus",
        "",
        "Real text, ingested with `ingest_paths` (default chunking: 1000 characters, overlap 150):",
        "",
        "| source | files | chunks |",
        "|---|---|---|",
    ]
    names = {
        "banking": "tau2-bench banking knowledge base (Markdown)",
        "squad": "SQuAD v1.1 dev paragraphs, one Markdown file each",
        "python": "Python 3.11 documentation sources (`python3.11-doc`, `_sources/*.txt`)",
        "postgres": "PostgreSQL 15 manual (`postgresql-doc-15`, HTML)",
    }
    for key, row in plan["base"].items():
        lines.append(f"| {names.get(key, key)} | {row['files']:,} | {row['chunks']:,} |")
    lines.append(
        f"| **distinct base** | {sum(r['files'] for r in plan['base'].values()):,} | "
        f"**{plan['base_chunks']:,}** |"
    )
    copies = ", ".join(
        f"copy-{i} {c['files']:,} files / {c['chunks']:,} chunks"
        + ("" if c["complete"] else " (partial)")
        for i, c in enumerate(plan["copies"], 1)
    )
    full = sum(c["complete"] for c in plan["copies"])
    stored = str(full) if full == len(plan["copies"]) else f"{full} or {full + 1}"
    lines += [
        "",
        f"- **100k index**: the base ingested {len(plan['copies'])} times under `copy-1` ... "
        f"`copy-{len(plan['copies'])}` (hard links: distinct paths, so distinct chunk ids; "
        f"{copies}): **{large['chunks']:,} chunks**, each distinct text stored {stored} times.",
        f"- **10k index**: banking + SQuAD + the first PostgreSQL pages (`subset/`, "
        f"{plan['subset_files']:,} files): **{small['chunks']:,} chunks**.",
        "",
        "## Build (one-time, cached under `bench/results/tmp/scale/`)",
        "",
        f"Child process under `nice -n 10`, finished {b['finished']}, other agents' work on the "
        "same cores. Ingestion itself has no content-hash reuse across files; the build raised "
        f"the embedder's LRU cache to {BUILD_CACHE:,} texts so each distinct chunk text was "
        "embedded once (with the default 8,192 a repeat further back would be embedded again).",
        "",
        "| index | chunks | wall s | CPU s | texts embedded | embedding s | "
        "rest s (chunking, Chroma, BM25) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("large", "100k"), ("small", "10k")):
        r = b[key]
        lines.append(
            f"| {label} | {r['chunks']:,} | {r['seconds']:,.0f} | {r['cpu_seconds']:,.0f} | "
            f"{r['texts_embedded']:,} | {r['embed_seconds']:,.0f} | "
            f"{r['seconds'] - r['embed_seconds']:,.0f} |"
        )
    lines += [
        "",
        "The 10k index was built after the 100k one, with every text already in the cache: "
        "its row is storage only (the embedding cost of its texts is part of the 100k row). "
        f"Preparing the corpus (unpacking, hard links, counting chunks): {b['prepare_s']:.0f} s. "
        f"Peak RSS of the build process: {b['peak_rss_mb']:,.0f} MB."
        + (" The 100k build was resumed after an interruption." if b["large"]["resumed"] else ""),
        "",
        "## Latency",
        "",
        f"{res['questions']} questions ({res['questions'] // 3} banking document titles, "
        f"{res['questions'] // 3} SQuAD dev questions, {res['questions'] // 3} PostgreSQL page "
        "titles, all answerable from both indexes), each asked of both indexes, interleaved "
        "(the order alternating), in one warm process; the embedder's LRU cache cleared before "
        "every timed call. *ask*: `build_graph()` + `invoke` (local engine, no LLM, no "
        "checkpointer, so a fresh thread per question). *search*: the retrieval call alone, "
        "`KnowledgeBase.search(question, top_k=4)` (hybrid: query embedding, Chroma top-50, "
        "BM25 over every chunk, weighted fusion, fetch). 1-min load average "
        f"{res['load_avg_start_end'][0]} at the start, {res['load_avg_start_end'][1]} at the end.",
        "",
        "| index | chunks | ask p50 ms | ask p95 ms | ask max ms | search p50 ms | "
        "search p95 ms | search max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("10k", "100k"):
        r = s[name]
        lines.append(
            f"| {name} | {r['chunks']:,} | {r['ask_ms']['p50']:.0f} | {r['ask_ms']['p95']:.0f} | "
            f"{r['ask_ms']['max']:.0f} | {r['search_ms']['p50']:.1f} | "
            f"{r['search_ms']['p95']:.1f} | {r['search_ms']['max']:.1f} |"
        )
    adj = large["ask_ms_adjusted"]
    lines.append(
        f"| 100k, adjusted (see below) | {large['chunks']:,} | {adj['p50']:.0f} | "
        f"{adj['p95']:.0f} | {adj['max']:.0f} | | | |"
    )
    lines += [
        "",
        f"Target ask p95 <= {res['target_p95_ms']} ms on 100k chunks: "
        f"**{'met' if met else 'NOT met'}** ({large['ask_ms']['p95']:.0f} ms). "
        f"Median ratio 100k / 10k: ask {ratio['ask_ms']:.2f}, search {ratio['search_ms']:.2f}.",
        "",
        "The measured 100k turn is *faster* than the 10k one: every text is stored 3-4 times, "
        "so its top 4 are mostly copies of one chunk, and the local grader, refiner and "
        "answerer (which embed each sentence of each retrieved chunk) have less distinct text "
        "to embed. The *adjusted* row estimates a 100k turn on distinct results: per question, "
        "the 10k turn with its index-size-dependent nodes (`select_sources`, which counts the "
        "chunks, and `retrieve`) replaced by their 100k times.",
        "",
        "Parts of the search, timed separately on the same questions (p50 / p95 ms). Chroma's "
        "`count()` grows with the collection; a search no longer calls it (the empty-index "
        "check reads the BM25 index, and `KnowledgeBase.lexical()` compares the BM25 index "
        "with the collection only when it loads a version and then at most every 2 s), so it "
        "is shown for reference; the top 50 BM25 scores are found by sorting only the positive "
        "scores:",
        "",
        "| index | query embedding | Chroma top-50 (HNSW) | Chroma `count()` | "
        "`lexical()` check | BM25 scores | top 50 BM25 scores |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("10k", "100k"):
        r = s[name]
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{r[key]['p50']:.1f} / {r[key]['p95']:.1f}"
                for key in ("embed_ms", "dense_ms", "count_ms", "lexical_ms", "bm25_ms", "sort_ms")
            )
            + " |"
        )
    lines += [
        "",
        "Median ms per node of the turn:",
        "",
        "| node | 10k | 100k |",
        "|---|---|---|",
    ]
    for node, ms in large["node_p50_ms"].items():
        lines.append(f"| {node} | {small['node_p50_ms'].get(node, 0):.1f} | {ms:.1f} |")
    lines += [
        "",
        "By question group (sanity: *hit@4* = the search returns a chunk of the file the "
        "question comes from; *cited* = the answer cites it; titles as questions are loose "
        "for banking and PostgreSQL):",
        "",
        "| index | group | n | ask p50 / p95 ms | search p50 / p95 ms | hit@4 | cited |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("10k", "100k"):
        for group, g in s[name]["by_group"].items():
            lines.append(
                f"| {name} | {group} | {g['questions']} | {g['ask_ms']['p50']:.0f} / "
                f"{g['ask_ms']['p95']:.0f} | {g['search_ms']['p50']:.1f} / "
                f"{g['search_ms']['p95']:.1f} | {g['hit_at_k']:.2f} | {g['cited']:.2f} |"
            )
    lines += [
        "",
        "Slowest turns (top 3 nodes, ms):",
        "",
        "| index | group | ask ms | nodes |",
        "|---|---|---|---|",
    ]
    for name in ("10k", "100k"):
        for r in s["slowest"][name]:
            nodes = ", ".join(f"{k} {v}" for k, v in r["nodes"].items())
            lines.append(f"| {name} | {r['group']} | {r['ask_ms']} | {nodes} |")
    mem, probe_ = res["rss_in_process"], res["rss_probe"]
    lines += [
        "",
        "## Memory and disk",
        "",
        "RSS of a fresh child process per index that loads only that index (imports and a warm "
        "embedder first, then `open_kb` + one search, which loads the Chroma HNSW index and "
        "the BM25 index):",
        "",
        "| index | RSS before MB | RSS after MB | index load MB | RSS after 90 more searches MB "
        "| first search s | next search ms | on disk: Chroma MB | BM25 MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("10k", "100k"):
        p, d = probe_[name], s[name]["disk_mb"]
        lines.append(
            f"| {name} | {p['rss_before_mb']:,.0f} | {p['rss_after_mb']:,.0f} | "
            f"{p['index_rss_mb']:,.0f} | {p['rss_after_90_searches_mb']:,.0f} | "
            f"{p['first_search_s']:.2f} | {p['second_search_ms']:.0f} | "
            f"{d['chroma']:,.0f} | {d['bm25']:,.0f} |"
        )
    lines += [
        "",
        "The measuring process itself (both indexes loaded, graph built): RSS after imports "
        f"{mem['after_imports_mb']:,.0f} MB, after the graph and embedder "
        f"{mem['after_graph_and_embedder_mb']:,.0f} MB, after loading the 10k index "
        f"{mem['after_loading_10k_mb']:,.0f} MB, after also loading the 100k index "
        f"{mem['after_loading_100k_mb']:,.0f} MB, after all questions "
        f"{mem['after_questions_mb']:,.0f} MB; peak (`VmHWM`, i.e. `ru_maxrss`) "
        f"{mem['peak_mb']:,.0f} MB. The growth during the questions is not index "
        "memory: the child processes above grow by far less over 90 searches.",
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=90, help="multiple of 3, >= 60")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/results/scale.md")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.questions < 3 or args.questions % 3:
        parser.error("--questions must be a positive multiple of 3")
    if args.build_only:
        build()
        return
    if args.probe:
        probe(args.probe)
        return
    built = ensure_built()
    run = measure(args.questions, args.seed)
    res = report(built, run, args)
    out = Path(args.out)
    out.with_suffix(".json").write_text(
        json.dumps({**res, "question_list": run["questions"], "rows": run["rows"]}, indent=1)
    )
    print(write_markdown(res, out))


if __name__ == "__main__":
    main()
