"""Ingestion: files -> heading-aware chunks -> local embeddings -> Chroma + BM25.

Chunk ids hash the file's path and the chunk's content, so re-ingesting unchanged files adds
nothing, and a changed file only gets its new chunks embedded while its stale ones are removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.vectorstore import index_text, invalidate, open_kb, validate_kb_name

SUPPORTED = (".md", ".txt")
MAX_BYTES = 5 * 1024 * 1024
EMBED_BATCH = 256
WRITE_BATCH = 1000
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass
class IngestReport:
    """What one ingestion run did.

    Attributes:
        files_seen: Files with a supported extension that were considered.
        files_ingested: Files read and indexed (unchanged ones included).
        files_skipped: Files ignored because of their extension.
        chunks_added: Chunks embedded and stored.
        chunks_unchanged: Chunks already stored with the same content.
        chunks_removed: Stale chunks deleted (changed files, and vanished files with ``sync``).
        failures: ``(path, reason)`` for every file that could not be ingested.
        seconds: Wall-clock duration.
    """

    files_seen: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every file was ingested."""
        return not self.failures


@dataclass
class Chunk:
    """One chunk ready to embed: its id, text and metadata."""

    id: str
    text: str
    metadata: dict[str, Any]


class FileError(ValueError):
    """A file cannot be ingested; the message is the reason."""


def _sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def chunk_id(path: str, content: str) -> str:
    """Stable id of a chunk: sha256 of its path and content, 32 hex digits."""
    return _sha(f"{path}\n{content}")[:32]


def read_text(path: Path) -> str:
    """Read a file as UTF-8 text.

    Raises:
        FileError: Unreadable, too large, binary, not UTF-8, or empty.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FileError(f"file too large ({size / 1e6:.1f} MB > {MAX_BYTES / 1e6:.0f} MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"unreadable: {exc.strerror or exc}") from exc
    if b"\x00" in raw:
        raise FileError("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not valid UTF-8 (byte {exc.start})") from exc
    if not text.strip():
        raise FileError("empty file")
    return text


def split_document(
    text: str, *, rel_path: str, markdown: bool, chunk_size: int, chunk_overlap: int
) -> list[Chunk]:
    """Split one document into chunks carrying title, section path and position.

    Example:
        >>> chunks = split_document("# Fees\\n\\n## Wires\\n\\n$25.", rel_path="a.md",
        ...     markdown=True, chunk_size=1000, chunk_overlap=0)
        >>> chunks[-1].metadata["section"]
        'Fees > Wires'
    """
    from langchain_core.documents import Document
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    title = Path(rel_path).stem
    if markdown:
        h1 = _H1.search(text)
        title = h1.group(1).strip() if h1 else title
        sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=False).split_text(text)
        for part in sections:
            part.page_content = part.page_content.replace("  \n", "\n")
    else:
        sections = [Document(page_content=text)]
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    doc_id = _sha(rel_path)[:16]
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for part in splitter.split_documents(sections):
        content = part.page_content.strip()
        cid = chunk_id(rel_path, content)
        if not content or cid in seen:
            continue
        seen.add(cid)
        section = " > ".join(part.metadata[key] for _, key in _HEADERS if key in part.metadata)
        chunks.append(
            Chunk(
                cid,
                content,
                {
                    "doc_id": doc_id,
                    "title": title,
                    "section": section,
                    "path": rel_path,
                    "chunk_index": len(chunks),
                    "content_hash": _sha(content)[:16],
                },
            )
        )
    return chunks


def discover(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str | None]]:
    """Yield ``(file, relative_path)`` for every file under ``paths``, in a stable order.

    The relative path of a file inside a given directory starts with that directory's name;
    a file given directly is known by its name. Hidden files and folders are not walked.
    Missing paths are yielded with ``None``.
    """
    for given in paths:
        root = Path(given).expanduser()
        if root.is_file():
            yield root, root.name
        elif root.is_dir():
            base = root.resolve().parent
            for folder, dirs, files in os.walk(root.resolve()):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        file = Path(folder) / name
                        yield file, file.relative_to(base).as_posix()
        else:
            yield root, None


def _existing(kb: Any) -> dict[str, dict[str, dict[str, Any]]]:
    by_path: dict[str, dict[str, dict[str, Any]]] = {}
    for page in kb.iter_chunks(["metadatas"]):
        for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
            by_path.setdefault(str((meta or {}).get("path", "")), {})[cid] = meta or {}
    return by_path


def _progress(enabled: bool) -> Any:
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=False
    )


class _Writer:
    """Buffers new chunks, embeds them in batches and adds them to the collection."""

    def __init__(self, kb: Any, on_written: Any) -> None:
        self.kb = kb
        self.pending: list[Chunk] = []
        self.on_written = on_written

    def add(self, chunks: list[Chunk]) -> None:
        self.pending.extend(chunks)
        if len(self.pending) >= EMBED_BATCH:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:WRITE_BATCH], self.pending[WRITE_BATCH:]
            vectors = self.kb.embed([index_text(c.metadata["title"], c.text) for c in batch])
            self.kb.collection.add(
                ids=[c.id for c in batch],
                embeddings=vectors,
                documents=[c.text for c in batch],
                metadatas=[c.metadata for c in batch],
            )
            self.on_written(len(batch))


def ingest_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    data_dir: str | os.PathLike[str],
    kb: str = "default",
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    progress: bool = False,
    sync: bool = False,
) -> IngestReport:
    """Ingest ``.md`` and ``.txt`` files (directories are walked recursively) into ``kb``.

    Args:
        paths: Files and/or directories.
        data_dir: The data directory holding the indexes.
        kb: Knowledge-base name (letters, digits, '-', '_').
        chunk_size: Maximum characters per chunk.
        chunk_overlap: Characters shared by consecutive chunks of one section.
        progress: Show a Rich progress bar.
        sync: Also remove the chunks of every file not found among ``paths`` (the knowledge
            base then mirrors exactly these paths; files that failed keep their chunks).

    Returns:
        An `IngestReport`; bad files are listed in ``failures`` and never stop the batch.

    Raises:
        ValueError: Invalid knowledge-base name or chunk sizes.
    """
    validate_kb_name(kb)
    if chunk_size < 50 or not 0 <= chunk_overlap < chunk_size:
        raise ValueError("chunk_size must be >= 50 and 0 <= chunk_overlap < chunk_size")
    started = time.perf_counter()
    report = IngestReport()
    files = list(discover(paths))
    base = open_kb(data_dir, kb, create=True)
    existing = _existing(base)
    seen_paths: set[str] = set()
    stale: list[str] = []
    with _progress(progress) as bar:
        files_task = bar.add_task("files", total=len(files)) if bar else None
        chunks_task = bar.add_task("chunks embedded", total=None) if bar else None

        def written(n: int) -> None:
            report.chunks_added += n
            if bar:
                bar.advance(chunks_task, n)

        writer = _Writer(base, written)
        for file, rel in files:
            if bar:
                bar.advance(files_task)
            if rel is None:
                report.failures.append((str(file), "no such file or directory"))
                continue
            if file.suffix.lower() not in SUPPORTED:
                report.files_skipped += 1
                continue
            report.files_seen += 1
            seen_paths.add(rel)
            try:
                text = read_text(file)
                chunks = split_document(
                    text,
                    rel_path=rel,
                    markdown=file.suffix.lower() == ".md",
                    chunk_size=chunk_size,
                    chunk_overlap=chunk_overlap,
                )
            except FileError as exc:
                report.failures.append((rel, str(exc)))
                continue
            except Exception as exc:
                report.failures.append((rel, f"could not be split: {exc}"))
                continue
            old = existing.get(rel, {})
            new_ids = {c.id for c in chunks}
            keep = [c for c in chunks if c.id in old]
            report.chunks_unchanged += len(keep)
            stale.extend(cid for cid in old if cid not in new_ids)
            if any(old[c.id] != c.metadata for c in keep):
                base.collection.update(
                    ids=[c.id for c in keep], metadatas=[c.metadata for c in keep]
                )
            writer.add([c for c in chunks if c.id not in old])
            report.files_ingested += 1
        writer.flush()
    if sync:
        stale.extend(
            cid for path, rows in existing.items() if path not in seen_paths for cid in rows
        )
    for start in range(0, len(stale), WRITE_BATCH):
        base.collection.delete(ids=stale[start : start + WRITE_BATCH])
    report.chunks_removed = len(stale)
    if report.chunks_added or report.chunks_removed:
        base.rebuild_lexical()
    else:
        base.lexical()
    invalidate(data_dir, kb)
    report.seconds = time.perf_counter() - started
    return report
