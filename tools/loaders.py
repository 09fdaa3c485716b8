"""Format loaders: one file's bytes -> its sections (text, title, section path, location).

Each loader cuts a document along its own structure (Markdown and reST headings, HTML h1-h3
sections, PDF pages, JSON records); `tools.ingest` then splits the sections to size.
"""

from __future__ import annotations

import io
import json
import logging
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 25 * 1024 * 1024
TEXT_FIELDS = ("text", "content", "body")
TITLE_FIELDS = ("title", "name")
ID_FIELDS = ("id",)
RECORD_LISTS = ("records", "data", "items", "documents")
_MD_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+)$", re.MULTILINE)
_HTML_SECTIONS = ("h1", "h2", "h3")
_HTML_DROP = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "head")
_BLOCK_TAGS = (
    "p div li ul ol br tr table section article pre blockquote h4 h5 h6 dd dt dl figure "
    "figcaption header footer aside main form hr td th caption address"
)
_HTML_BLOCKS = frozenset(_BLOCK_TAGS.split())


class FileError(ValueError):
    """A file cannot be ingested; the message is the reason."""


@dataclass
class Section:
    """A structural part of a document, before splitting to size.

    Attributes:
        text: The section's text (headings kept, so chunks stay self-describing).
        title: Title of the document the section belongs to.
        section: Heading path, ``"Guide > Install > Linux"`` (``"page 3"`` for PDF pages).
        location: Where it is inside the file: heading path, ``"page 3"`` or ``"#<record id>"``.
        doc_key: Record id when the file holds several documents (JSON), else ``""``.
        extra: Format-specific metadata (``page``, ``record_id``).
    """

    text: str
    title: str
    section: str = ""
    location: str = ""
    doc_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fields:
    """Which JSON fields hold a record's text, title and id (None: try the usual names)."""

    text: str | None = None
    title: str | None = None
    id: str | None = None


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file no larger than ``max_bytes``.

    Raises:
        FileError: Missing, unreadable, not a regular file, too large, or empty.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise FileError("not a regular file")
        if info.st_size > max_bytes:
            raise FileError(
                f"file too large ({info.st_size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"unreadable: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise FileError("empty file")
    return raw


def decode_text(raw: bytes) -> str:
    """Decode a text file as UTF-8.

    Raises:
        FileError: Binary (NUL bytes), not UTF-8, or blank.
    """
    if b"\x00" in raw:
        raise FileError("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not valid UTF-8 (byte {exc.start})") from exc
    if not text.strip():
        raise FileError("empty file")
    return text


def load_markdown(raw: bytes, path: Path, fields: Fields) -> list[Section]:
    """Markdown cut at headings h1-h4. The title is the front matter's ``title:``, else the
    first h1, else the file name; the front matter itself is not indexed."""
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    text = decode_text(raw)
    front = _FRONT_MATTER.match(text)
    declared = _FRONT_TITLE.search(front.group(1)) if front else None
    text = text[front.end() :] if front else text
    h1 = _H1.search(text)
    title = h1.group(1).strip() if h1 else path.stem
    title = declared.group(1).strip().strip("'\"") if declared else title
    parts = MarkdownHeaderTextSplitter(_MD_HEADERS, strip_headers=False).split_text(text)
    out = []
    for part in parts:
        heading = " > ".join(part.metadata[key] for _, key in _MD_HEADERS if key in part.metadata)
        out.append(Section(part.page_content.replace("  \n", "\n"), title, heading, heading))
    return out


def load_text(raw: bytes, path: Path, fields: Fields) -> list[Section]:
    """Plain text: one section titled with the file name."""
    return [Section(decode_text(raw), path.stem)]


def load_rst(raw: bytes, path: Path, fields: Fields) -> list[Section]:
    """reStructuredText parsed by docutils; every section becomes one section (its own text,
    without its subsections). Includes and raw directives are disabled."""
    from docutils import nodes
    from docutils.core import publish_doctree

    text = decode_text(raw)
    settings = {
        "report_level": 5,
        "halt_level": 5,
        "file_insertion_enabled": False,
        "raw_enabled": False,
        "doctitle_xform": False,
        "sectsubtitle_xform": False,
        "warning_stream": io.StringIO(),
        "_disable_config": True,
    }
    try:
        tree = publish_doctree(text, settings_overrides=settings)
    except Exception as exc:
        raise FileError(f"invalid reStructuredText: {exc}") from exc
    skip = (nodes.comment, nodes.system_message, nodes.substitution_definition, nodes.target)
    tops = [child for child in tree.children if isinstance(child, nodes.section)]
    title = tops[0][0].astext().strip() if tops else path.stem
    out: list[Section] = []

    def visit(node: Any, trail: list[str]) -> None:
        body = []
        for child in node.children:
            if isinstance(child, nodes.section):
                continue
            if not isinstance(child, skip):
                body.append(child.astext().strip())
        heading = " > ".join(trail)
        if any(body[1 if trail else 0 :]):
            out.append(Section("\n\n".join(b for b in body if b), title, heading, heading))
        for child in node.children:
            if isinstance(child, nodes.section):
                visit(child, [*trail, child[0].astext().strip()])

    visit(tree, [])
    return out


def load_html(raw: bytes, path: Path, fields: Fields) -> list[Section]:
    """HTML without scripts, styles and navigation, cut at h1-h3; title from ``<title>``,
    else the first h1, else the file name."""
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    soup = BeautifulSoup(decode_text(raw), "lxml")
    heading_tag = soup.find("title")
    first_h1 = soup.find("h1")
    title = (
        next((t.get_text(" ", strip=True) for t in (heading_tag, first_h1) if t is not None), "")
        or path.stem
    )
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for note in soup.find_all(string=lambda s: isinstance(s, Comment)):
        note.extract()
    out: list[Section] = []
    trail: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        body = _tidy("".join(parts))
        heading = " > ".join(trail)
        if body and body != (trail[-1] if trail else ""):
            out.append(Section(body, title, heading, heading))
        parts.clear()

    root = soup.body or soup
    for node in root.descendants:
        if isinstance(node, Tag):
            if node.name in _HTML_SECTIONS:
                flush()
                level = int(node.name[1])
                text = node.get_text(" ", strip=True)
                trail[:] = [*trail[: level - 1], text] if text else trail[: level - 1]
                parts.append(f"{text}\n\n")
            elif node.name in _HTML_BLOCKS:
                parts.append("\n")
        elif type(node) is NavigableString and node.find_parent(_HTML_SECTIONS) is None:
            parts.append(str(node))
    flush()
    return out


def _tidy(text: str) -> str:
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def load_pdf(raw: bytes, path: Path, fields: Fields) -> list[Section]:
    """PDF text with pypdf, one section per page (``"page N"``); title from the metadata."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not raw.lstrip().startswith(b"%PDF-"):
        raise FileError("corrupt PDF: no PDF header")
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileError("encrypted PDF (a password is required)")
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
        pages = [page.extract_text() or "" for page in reader.pages]
    except FileError:
        raise
    except (FileNotDecryptedError, NotImplementedError) as exc:
        raise FileError(f"encrypted PDF: {exc}") from exc
    except Exception as exc:
        raise FileError(f"corrupt PDF: {exc}") from exc
    title = str(meta_title).strip() if meta_title else path.stem
    out = [
        Section(text, title, f"page {n}", f"page {n}", extra={"page": n})
        for n, text in enumerate(pages, start=1)
        if text.strip()
    ]
    if not out:
        raise FileError("no extractable text in the PDF (scanned images?)")
    return out


def _field(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value: Any = record
        for key in name.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _records(raw: bytes, jsonl: bool) -> list[Any]:
    text = decode_text(raw)
    if jsonl:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise FileError(f"malformed JSON on line {number}: {exc.msg}") from exc
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileError(f"malformed JSON (line {exc.lineno}): {exc.msg}") from exc
    if isinstance(data, dict):
        listed = next((data[k] for k in RECORD_LISTS if isinstance(data.get(k), list)), None)
        return listed if listed is not None else [data]
    if isinstance(data, list):
        return data
    raise FileError("JSON holds neither records nor a list of records")


def load_json(raw: bytes, path: Path, fields: Fields, *, jsonl: bool = False) -> list[Section]:
    """JSON (a list of records, or ``{"records"|"data"|...: [...]}``) or JSONL (one record a
    line). Each record is a document located at ``#<id>`` (its position when it has no id)."""
    text_names = (fields.text,) if fields.text else TEXT_FIELDS
    title_names = (fields.title,) if fields.title else TITLE_FIELDS
    id_names = (fields.id,) if fields.id else ID_FIELDS
    out = []
    for position, record in enumerate(_records(raw, jsonl), start=1):
        if not isinstance(record, dict):
            raise FileError(f"record {position} is not a JSON object")
        body = _as_text(_field(record, text_names)).strip()
        if not body:
            continue
        raw_id = _field(record, id_names)
        rid = str(raw_id) if isinstance(raw_id, str | int) else str(position)
        title = _as_text(_field(record, title_names)).strip() or f"{path.stem} #{rid}"
        out.append(Section(body, title, "", f"#{rid}", rid, {"record_id": rid}))
    if not out:
        raise FileError(f"no record has a text field (looked for {', '.join(text_names)})")
    return out


Loader = Callable[[bytes, Path, Fields], list[Section]]
LOADERS: dict[str, tuple[str, Loader]] = {
    ".md": ("md", load_markdown),
    ".markdown": ("md", load_markdown),
    ".txt": ("txt", load_text),
    ".rst": ("rst", load_rst),
    ".html": ("html", load_html),
    ".htm": ("html", load_html),
    ".pdf": ("pdf", load_pdf),
    ".json": ("json", load_json),
    ".jsonl": ("json", lambda raw, path, fields: load_json(raw, path, fields, jsonl=True)),
}


def source_type(path: Path) -> str | None:
    """The format of ``path`` by extension (``md``, ``txt``, ``rst``, ``html``, ``pdf``,
    ``json``), or None when unsupported."""
    entry = LOADERS.get(path.suffix.lower())
    return entry[0] if entry else None


def load(raw: bytes, path: Path, fields: Fields | None = None) -> list[Section]:
    """The non-empty sections of the file ``path`` whose bytes are ``raw``.

    Raises:
        FileError: Unsupported, binary, undecodable, corrupt or without any text.
    """
    entry = LOADERS.get(path.suffix.lower())
    if entry is None:
        raise FileError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        sections = entry[1](raw, path, fields or Fields())
    except FileError:
        raise
    except Exception as exc:
        raise FileError(f"could not be parsed: {type(exc).__name__}: {exc}") from exc
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise FileError("no text to index")
    return sections
