"""The one document shape every source returns."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

SourceName = Literal["vectorstore", "web", "arxiv", "memory"]
SOURCES: tuple[SourceName, ...] = ("vectorstore", "web", "arxiv", "memory")


class Doc(TypedDict):
    """A retrieved passage, identical in shape for all four sources.

    Attributes:
        id: Stable id (chunk id, URL, arXiv entry id or memory key).
        content: The passage text.
        source: Which source produced it.
        title: Document title.
        location: File path (plus heading), URL, or arXiv entry URL.
        score: The retriever's own score (higher is better; scales differ by source).
        query: The (sub-)question it was retrieved for.
        metadata: Anything else the source knows (section, page, authors, ...).
    """

    id: str
    content: str
    source: SourceName
    title: str
    location: str
    score: float
    query: str
    metadata: dict[str, Any]


def make_doc(
    *,
    id: str,
    content: str,
    source: SourceName,
    title: str = "",
    location: str = "",
    score: float = 0.0,
    query: str = "",
    metadata: dict[str, Any] | None = None,
) -> Doc:
    """Build a `Doc`, filling the optional fields.

    Example:
        >>> make_doc(id="a", content="Fees are $5.", source="vectorstore")["title"]
        ''
    """
    return Doc(
        id=id,
        content=content,
        source=source,
        title=title,
        location=location,
        score=float(score),
        query=query,
        metadata=dict(metadata or {}),
    )
