"""Sections -> chunks: recursive splitting to size, ids, and the metadata every chunk carries.

Chunk ids hash the document's key (its path, plus ``#<record id>`` for JSON records) and the
chunk's content, so an unchanged chunk keeps its id across runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.loaders import Section

CHILD_SIZE = 300
CHILD_OVERLAP = 50
_RESERVED_KEYS = (
    "doc_id title section path location chunk_index content_hash source_type page record_id "
    "parent_id parent_text source_hash file_chunks"
)
RESERVED = frozenset(_RESERVED_KEYS.split())


@dataclass
class Chunk:
    """One chunk ready to embed: its id, text and metadata."""

    id: str
    text: str
    metadata: dict[str, Any]


def sha(text: str | bytes) -> str:
    """Hex sha256 of a string (UTF-8) or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def chunk_id(path: str, content: str) -> str:
    """Stable id of a chunk: sha256 of its document key and content, 32 hex digits."""
    return sha(f"{path}\n{content}")[:32]


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate extra metadata merged into every chunk (e.g. ``{"tenant": "acme"}``).

    Raises:
        ValueError: A reserved or empty key, or a value that is not a str, int, float or bool.
    """
    out = dict(metadata or {})
    for key, value in out.items():
        if not isinstance(key, str) or not key or key in RESERVED:
            raise ValueError(f"metadata key {key!r} is empty or reserved")
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"metadata {key!r} must be a str, int, float or bool")
    return out


def _splitter(size: int, overlap: int) -> Any:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)


def chunk_sections(
    sections: list[Section],
    *,
    rel_path: str,
    source_type: str,
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    parent_child: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> list[Chunk]:
    """Split sections to ``chunk_size`` and describe each chunk.

    In parent-child mode each piece of ``chunk_size`` is a parent: it is split again into
    children of about `CHILD_SIZE` characters, which are what gets embedded and searched; every
    child carries ``parent_id`` and ``parent_text`` (the text to hand to the generator).

    Args:
        sections: The file's sections, from `tools.loaders.load`.
        rel_path: The file's path as stored (``docs/guide.md``).
        source_type: ``md``, ``txt``, ``rst``, ``html``, ``pdf`` or ``json``.
        chunk_size: Maximum characters per chunk (per parent in parent-child mode).
        chunk_overlap: Characters shared by consecutive pieces of one section.
        parent_child: Index small children that point to their parent.
        metadata: Extra metadata merged into every chunk.

    Example:
        >>> from tools.loaders import Section
        >>> chunks = chunk_sections([Section("## Wires\\n\\n$25.", "Fees", "Fees > Wires",
        ...     "Fees > Wires")], rel_path="a.md", source_type="md")
        >>> chunks[0].metadata["location"]
        'a.md § Fees > Wires'
    """
    parents = _splitter(chunk_size, chunk_overlap)
    children = _splitter(CHILD_SIZE, min(CHILD_OVERLAP, chunk_overlap)) if parent_child else None
    extra = dict(metadata or {})
    chunks: list[Chunk] = []
    seen: set[str] = set()
    per_doc: dict[str, int] = {}
    for part in sections:
        key = f"{rel_path}#{part.doc_key}" if part.doc_key else rel_path
        if part.doc_key:
            location = key
        else:
            location = f"{rel_path} § {part.location}" if part.location else rel_path
        for piece in parents.split_text(part.text):
            piece = piece.strip()
            if not piece:
                continue
            family: dict[str, Any] = {}
            texts = [piece]
            if children is not None:
                family = {"parent_id": sha(f"{key}\n{piece}")[:16], "parent_text": piece}
                texts = [t.strip() for t in children.split_text(piece)]
            for content in texts:
                cid = chunk_id(key, content)
                if not content or cid in seen:
                    continue
                seen.add(cid)
                index = per_doc.get(key, 0)
                per_doc[key] = index + 1
                meta = {
                    **extra,
                    "doc_id": sha(key)[:16],
                    "title": part.title,
                    "section": part.section,
                    "path": rel_path,
                    "location": location,
                    "chunk_index": index,
                    "content_hash": sha(content)[:16],
                    "source_type": source_type,
                    **part.extra,
                    **family,
                }
                chunks.append(Chunk(cid, content, meta))
    return chunks
