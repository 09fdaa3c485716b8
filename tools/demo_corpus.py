"""The demo corpus: the tau2-bench banking knowledge base, exported as Markdown files.

The data ships in the ``inspect-evals`` package (MIT). Only its data files are read: the package
itself is never imported, so it can be installed with ``--no-deps``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any

PACKAGE = "inspect_evals"
PIN = "inspect-evals==0.26.0"
BANKING_DIR = ("tau2", "data", "domains", "banking_knowledge")
_SAFE = str.maketrans({c: "_" for c in '/\\:*?"<>|'})


class DemoCorpusError(RuntimeError):
    """The package holding the demo corpus is not installed (or lacks the data)."""


def banking_data_dir() -> Path:
    """The folder of the banking knowledge base inside the installed ``inspect_evals``.

    Raises:
        DemoCorpusError: The package or its data is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    hint = f"install it with `pip install --no-deps {PIN}`"
    if spec is None or not spec.submodule_search_locations:
        raise DemoCorpusError(f"the demo corpus needs the {PACKAGE!r} package: {hint}")
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*BANKING_DIR)
    if not (folder / "documents.json.gz").is_file():
        raise DemoCorpusError(f"banking documents not found in {folder}: {hint}")
    return folder


def banking_documents() -> list[dict[str, str]]:
    """The 698 banking documents as ``{"id", "title", "content"}`` dicts."""
    with gzip.open(banking_data_dir() / "documents.json.gz", "rt", encoding="utf-8") as fh:
        return json.load(fh)


def banking_tasks() -> list[dict[str, Any]]:
    """The tau2-bench banking tasks (``tasks.json``)."""
    return json.loads((banking_data_dir() / "tasks.json").read_text(encoding="utf-8"))


def export_banking_corpus(dest: Path, limit: int | None = None) -> int:
    """Write each banking document to ``dest/<id>.md`` as ``# <title>`` then its content.

    Args:
        dest: Target folder (created when missing).
        limit: Export only the first ``limit`` documents.

    Returns:
        The number of files written.

    Raises:
        DemoCorpusError: ``inspect_evals`` is not installed.
    """
    docs = banking_documents()[:limit]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        body = f"# {doc['title'].strip()}\n\n{doc['content'].strip()}\n"
        (dest / f"{doc['id'].translate(_SAFE)}.md").write_text(body, encoding="utf-8")
    return len(docs)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.demo_corpus DEST``: export the demo corpus as Markdown files."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.demo_corpus DEST", file=sys.stderr)
        return 2
    try:
        count = export_banking_corpus(Path(args[0]))
    except DemoCorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"exported {count} banking policy documents to {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
