"""Ingestion: files -> format loaders -> structure-aware chunks -> embeddings -> Chroma + BM25.

Re-ingesting is incremental. Every chunk records a hash of its file's bytes and of the settings
it was cut with (``source_hash``) and how many chunks the file produced (``file_chunks``): a file
whose stored chunks all match is skipped without being parsed. A changed file is re-chunked; only
its new chunks are embedded and its stale ones are deleted once the new ones are written.

Nothing is half-written: chunks are added in atomic batches and old chunks are only removed after
their replacements are stored, so a killed run leaves a searchable index (at worst holding old
and new versions of the files it was working on) and the next run completes it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.chunking import Chunk, check_metadata, chunk_id, chunk_sections, sha
from tools.knowledge_base import OWNER_KEY
from tools.loaders import LOADERS, MAX_BYTES, Fields, FileError, load, read_bytes, source_type
from tools.progress import IngestProgress
from tools.vectorstore import index_text, invalidate, open_kb, validate_kb_name

__all__ = [
    "MAX_BYTES",
    "SUPPORTED",
    "Chunk",
    "FileError",
    "IngestReport",
    "chunk_id",
    "discover",
    "ingest_paths",
]

SUPPORTED = tuple(LOADERS)
EMBED_BATCH = 128
CHUNKER_VERSION = 2


@dataclass
class IngestReport:
    """What one ingestion run did.

    Attributes:
        files_seen: Files with a supported extension that were considered.
        files_ingested: Files read and indexed (unchanged ones included).
        files_unchanged: Files skipped because their stored chunks are up to date.
        files_skipped: Files ignored because of their extension.
        chunks_added: Chunks embedded and stored.
        chunks_unchanged: Chunks already stored with the same content.
        chunks_removed: Stale chunks deleted (changed files, and vanished files with ``sync``).
        failures: ``(path, reason)`` for every file that could not be ingested.
        seconds: Wall-clock duration.
    """

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
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

    @property
    def chunks_per_second(self) -> float:
        """Chunks added per second of the whole run."""
        return self.chunks_added / self.seconds if self.seconds > 0 else 0.0


def discover(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str, str | None]]:
    """Yield ``(file, relative_path, problem)`` for every file under ``paths``, in a stable order.

    The relative path of a file inside a given directory starts with that directory's name; a
    file given directly is known by its name. Hidden files and folders are not walked, symlinked
    folders are not followed, a symlinked file pointing outside its folder is yielded with a
    problem, and so are a missing path, a symlink loop and a path that is not valid UTF-8 (it
    could not be stored; it is shown with U+FFFD in place of the undecodable bytes). A file
    reached twice is yielded once.
    """
    seen: set[str] = set()
    for given in paths:
        root = Path(given).expanduser()
        if root.is_file():
            if os.path.realpath(root) not in seen:
                seen.add(os.path.realpath(root))
                yield root, *_named(root.name, None)
        elif root.is_dir():
            real_root = root.resolve()
            base = real_root.parent
            for folder, dirs, files in os.walk(real_root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    file = Path(folder) / name
                    rel = file.relative_to(base).as_posix()
                    real = os.path.realpath(file)
                    if file.is_symlink() and not Path(real).is_relative_to(real_root):
                        yield file, *_named(rel, "symlink pointing outside the folder")
                    elif real not in seen:
                        seen.add(real)
                        yield file, *_named(rel, None)
        elif root.exists():
            yield root, *_named(str(given), "not a regular file or folder")
        elif root.is_symlink():
            yield root, *_named(str(given), f"unreadable: {_stat_error(root)}")
        else:
            yield root, *_named(str(given), "no such file or directory")


def _named(rel: str, problem: str | None) -> tuple[str, str | None]:
    """``(rel, problem)``, or a displayable ``rel`` and why when it is not valid UTF-8."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return shown, problem or "path is not valid UTF-8 (rename it)"
    return rel, problem


def _stat_error(path: Path) -> str:
    """Why ``path`` (a symlink that does not resolve) cannot be read: a loop or a dangling
    link."""
    try:
        path.stat()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return "not a regular file"


def _existing(
    kb: Any, owner: str | None = None
) -> tuple[dict[str, dict[str, dict[str, Any]]], set[str]]:
    """The stored chunks of ``owner``'s documents (None: the shared ones) by path, and the
    ids of every stored chunk."""
    by_path: dict[str, dict[str, dict[str, Any]]] = {}
    every: set[str] = set()
    for page in kb.iter_chunks(["metadatas"]):
        for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
            every.add(cid)
            if (meta or {}).get(OWNER_KEY) == owner:
                by_path.setdefault(str((meta or {}).get("path", "")), {})[cid] = meta or {}
    return by_path, every


def _owned_id(owner: str, cid: str) -> str:
    """The id of a chunk owned by ``owner``: never equal to a shared or other user's chunk."""
    return sha(f"{OWNER_KEY}:{owner}\n{cid}")[:32]


def _up_to_date(old: dict[str, dict[str, Any]], source_hash: str) -> bool:
    if not old:
        return False
    counts = {meta.get("file_chunks") for meta in old.values()}
    hashes = {meta.get("source_hash") for meta in old.values()}
    return hashes == {source_hash} and counts == {len(old)}


class _Writer:
    """Embeds and adds new chunks in batches; deletes stale chunks once their file is written."""

    def __init__(self, kb: Any, report: IngestReport, bar: IngestProgress, batch: int) -> None:
        self.kb = kb
        self.batch = batch
        self.report = report
        self.bar = bar
        self.pending: list[Chunk] = []
        self.stale: list[str] = []

    def add(self, chunks: list[Chunk], stale: list[str]) -> None:
        self.pending.extend(chunks)
        self.stale.extend(stale)
        self.bar.expect_chunks(len(chunks))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[: self.batch], self.pending[self.batch :]
            vectors = self.kb.embed([index_text(c.metadata["title"], c.text) for c in batch])
            self.kb.collection.add(
                ids=[c.id for c in batch],
                embeddings=vectors,
                documents=[c.text for c in batch],
                metadatas=[c.metadata for c in batch],
            )
            self.report.chunks_added += len(batch)
            self.bar.chunks_written(len(batch))
        self.delete(self.stale)
        self.stale = []

    def delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 1000):
            self.kb.collection.delete(ids=ids[start : start + 1000])
        self.report.chunks_removed += len(ids)


def _fields(
    fields: Fields | Mapping[str, str] | None, text: str | None, title: str | None, id_: str | None
) -> Fields:
    if isinstance(fields, Fields):
        given = fields
    else:
        unknown = set(fields or {}) - {"text", "title", "id"}
        if unknown:
            raise ValueError(f"unknown JSON field roles {sorted(unknown)}: use text, title, id")
        given = Fields(**dict(fields or {}))
    return Fields(text=text or given.text, title=title or given.title, id=id_ or given.id)


def ingest_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    data_dir: str | os.PathLike[str],
    kb: str = "default",
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    progress: bool = False,
    sync: bool = False,
    parent_child: bool = False,
    fields: Fields | Mapping[str, str] | None = None,
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    owner: str | None = None,
    embedding_model: str = "local",
    max_bytes: int = MAX_BYTES,
    batch_size: int = EMBED_BATCH,
) -> IngestReport:
    """Ingest Markdown, text, reST, HTML, PDF and JSON/JSONL files into knowledge base ``kb``.

    Args:
        paths: Files and/or directories (walked recursively).
        data_dir: The data directory holding the indexes.
        kb: Knowledge-base name (letters, digits, '-', '_').
        chunk_size: Maximum characters per chunk (per parent section in parent-child mode).
        chunk_overlap: Characters shared by consecutive chunks of one section.
        progress: Show a Rich progress bar (files, chunks embedded, chunks/s) on stderr.
        sync: Also remove the chunks of every file not found among ``paths`` (the knowledge
            base then mirrors exactly these paths; files that failed keep their chunks).
        parent_child: Embed small children (~300 characters) that carry their parent's text in
            metadata ``parent_text`` (and its id in ``parent_id``).
        fields: JSON field mapping, ``Fields`` or ``{"text"|"title"|"id": field}``; dotted
            names reach into nested objects.
        text_field: JSON field holding a record's text (default: text, content or body).
        title_field: JSON field holding its title (default: title or name).
        id_field: JSON field holding its id (default: id; else the record's position).
        metadata: Extra scalar metadata merged into every chunk, e.g. ``{"tenant": "acme"}``.
        owner: The user these documents belong to: their chunks are only ever retrieved for
            that ``user_id``, and re-ingesting or ``sync`` only touches that user's documents
            (None: shared documents, visible to everyone).
        embedding_model: Embedder of a new knowledge base (`tools.vectorstore.open_kb`).
        max_bytes: Larger files are listed as failures.
        batch_size: Chunks embedded and written together (each batch is stored atomically).

    Returns:
        An `IngestReport`; bad files are listed in ``failures`` and never stop the batch.

    Raises:
        ValueError: Invalid knowledge-base name, chunk sizes or metadata.
    """
    validate_kb_name(kb)
    if chunk_size < 50 or not 0 <= chunk_overlap < chunk_size:
        raise ValueError("chunk_size must be >= 50 and 0 <= chunk_overlap < chunk_size")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    extra = check_metadata(metadata)
    if OWNER_KEY in extra:
        raise ValueError(f"metadata key {OWNER_KEY!r} is reserved: pass owner= instead")
    if owner is not None:
        if not isinstance(owner, str) or not owner.strip():
            raise ValueError("the owner of the documents (--user) must be a non-empty user id")
        extra[OWNER_KEY] = owner
    mapping = _fields(fields, text_field, title_field, id_field)
    settings = json.dumps(
        [CHUNKER_VERSION, chunk_size, chunk_overlap, parent_child, vars(mapping), extra],
        sort_keys=True,
    )
    started = time.perf_counter()
    report = IngestReport()
    files = list(discover(paths))
    base = open_kb(data_dir, kb, create=True, embedding_model=embedding_model)
    existing, stored = _existing(base, owner)
    seen_paths: set[str] = set()
    updated = 0
    with IngestProgress(progress, total_files=len(files)) as bar:
        writer = _Writer(base, report, bar, batch_size)
        for file, rel, problem in files:
            bar.file_done()
            kind = source_type(file)
            if problem is None and kind is None:
                report.files_skipped += 1
                continue
            report.files_seen += 1
            seen_paths.add(rel)
            if problem is not None:
                report.failures.append((rel, problem))
                continue
            old = existing.get(rel, {})
            try:
                raw = read_bytes(file, max_bytes)
                source_hash = sha(raw + settings.encode("utf-8"))[:32]
                if _up_to_date(old, source_hash):
                    report.files_ingested += 1
                    report.files_unchanged += 1
                    report.chunks_unchanged += len(old)
                    continue
                chunks = chunk_sections(
                    load(raw, file, mapping),
                    rel_path=rel,
                    source_type=str(kind),
                    chunk_size=chunk_size,
                    chunk_overlap=chunk_overlap,
                    parent_child=parent_child,
                    metadata=extra,
                )
                if not chunks:
                    raise FileError("no text to index")
                if owner is not None:
                    for chunk in chunks:
                        chunk.id = _owned_id(owner, chunk.id)
            except FileError as exc:
                report.failures.append((rel, str(exc)))
                continue
            for chunk in chunks:
                chunk.metadata.update(source_hash=source_hash, file_chunks=len(chunks))
            updated += _refresh(base, [c for c in chunks if c.id in old], old)
            report.chunks_unchanged += sum(c.id in old for c in chunks)
            new_ids = {c.id for c in chunks}
            writer.add([c for c in chunks if c.id not in old], [i for i in old if i not in new_ids])
            report.files_ingested += 1
        writer.flush()
        if sync:
            writer.delete(
                [cid for path, rows in existing.items() if path not in seen_paths for cid in rows]
            )
    changed = bool(report.chunks_added or report.chunks_removed or updated)
    if changed or set(base.lexical().ids) != stored:
        base.rebuild_lexical()
    invalidate(data_dir, kb)
    report.seconds = time.perf_counter() - started
    return report


def _refresh(kb: Any, keep: list[Chunk], old: dict[str, dict[str, Any]]) -> int:
    """Rewrite the metadata of kept chunks whose metadata changed; returns how many."""
    changed = [c for c in keep if old[c.id] != c.metadata]
    if changed:
        kb.collection.update(
            ids=[c.id for c in changed],
            metadatas=[
                {**{k: None for k in old[c.id] if k not in c.metadata}, **c.metadata}
                for c in changed
            ],
        )
    return len(changed)
