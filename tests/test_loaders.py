"""Format loaders and chunking on real files (no index involved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest_fixtures import FIXTURES, make_pdf
from tools.chunking import check_metadata, chunk_sections
from tools.loaders import Fields, FileError, load, read_bytes, source_type


def _load(name: str, fields: Fields | None = None):
    path = FIXTURES / name
    return load(path.read_bytes(), path, fields)


def test_markdown_sections_follow_headings():
    sections = _load("constitution.md")
    assert {s.title for s in sections} == {"The Constitution of the United States"}
    assert [s.section.split(" > ")[-1] for s in sections] == [
        "The Constitution of the United States",
        "Section 1",
        "Section 2",
        "Section 3",
    ]
    assert sections[2].section == "The Constitution of the United States > Article I > Section 2"
    assert sections[2].text.startswith("### Section 2")


def test_markdown_front_matter_gives_the_title_and_is_not_indexed(tmp_path):
    doc = tmp_path / "fees.md"
    doc.write_text('---\ntitle: "Fee schedule"\ntags: [a]\n---\n# Fees\n\nWires: $25.\n')
    [section] = load(doc.read_bytes(), doc)
    assert section.title == "Fee schedule" and "tags" not in section.text
    assert section.section == "Fees"


def test_rst_sections_come_from_the_docutils_tree():
    sections = _load("article2.rst")
    assert [s.section for s in sections] == [
        "Article II",
        "Article II > Section 1",
        "Article II > Section 1 > Qualifications",
        "Article II > Section 2",
        "Article II > Section 4",
    ]
    assert {s.title for s in sections} == {"Article II"}
    qualifications = sections[2].text
    assert qualifications.startswith("Qualifications\n\n") and "thirty five Years" in qualifications
    assert "Qualifications" not in sections[1].text
    assert not any("comment" in s.text for s in sections)


def test_rst_include_directives_are_disabled(tmp_path):
    doc = tmp_path / "evil.rst"
    doc.write_text("Title\n=====\n\nText.\n\n.. include:: /etc/passwd\n", encoding="utf-8")
    text = "\n".join(s.text for s in load(doc.read_bytes(), doc))
    assert "root:" not in text and "Text." in text


def test_html_drops_scripts_styles_and_nav_and_splits_at_headings():
    sections = _load("article3.html")
    assert {s.title for s in sections} == {"Article III: The Judicial Branch"}
    assert [s.section for s in sections] == [
        "Article III",
        "Article III > Section 1",
        "Article III > Section 3 > Treason",
    ]
    text = "\n".join(s.text for s in sections)
    for junk in ("tracker", "font-family", "All articles", "HTML comment"):
        assert junk not in text
    assert "supreme Court" in sections[1].text
    assert "open Court." in sections[2].text and sections[2].text.startswith("Treason\n\n")


def test_text_is_one_section_titled_by_file_name():
    [section] = _load("declaration.txt")
    assert section.title == "declaration" and section.section == ""
    assert "unalienable Rights" in section.text


def test_json_records_and_jsonl_lines_are_documents():
    amendments = _load("amendments.json")
    assert [s.location for s in amendments] == [f"#amendment-{n}" for n in range(1, 5)]
    assert amendments[0].title == "First Amendment" and "freedom of speech" in amendments[0].text
    later = _load("later.jsonl")
    assert [(s.doc_key, s.title) for s in later] == [
        ("13", "Thirteenth Amendment"),
        ("19", "Nineteenth Amendment"),
        ("26", "Twenty-sixth Amendment"),
    ]


def test_json_field_mapping_and_nested_fields(tmp_path):
    doc = tmp_path / "faq.json"
    rows = [
        {"key": "q1", "meta": {"heading": "Wires"}, "answer": "Wires cost $25.", "text": "no"},
        {"key": "q2", "meta": {"heading": "Fees"}, "answer": "No monthly fee."},
    ]
    doc.write_text(json.dumps({"data": rows}), encoding="utf-8")
    fields = Fields(text="answer", title="meta.heading", id="key")
    sections = load(doc.read_bytes(), doc, fields)
    assert [(s.location, s.title, s.text) for s in sections] == [
        ("#q1", "Wires", "Wires cost $25."),
        ("#q2", "Fees", "No monthly fee."),
    ]
    plain = load(doc.read_bytes(), doc)
    assert [(s.location, s.title) for s in plain] == [("#1", "faq #1")]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bad.json", b'{"records": [{"text": "a"},]}', "malformed JSON"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": \n', "malformed JSON on line 2"),
        ("none.json", b'[{"body": ""}, {"other": "x"}]', "no record has a text field"),
        ("scalars.json", b"[1, 2]", "record 1 is not a JSON object"),
        ("bin.txt", b"abc\x00def", "binary"),
        ("latin.md", "café".encode("latin-1"), "not valid UTF-8"),
        ("blank.rst", b"  \n\n", "empty"),
        ("notes.pdf", b"hello, I am not a PDF", "corrupt PDF"),
        ("style.html", b"<html><script>x()</script></html>", "no text"),
    ],
)
def test_bad_files_raise_a_clear_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileError, match=reason):
        load(content, path)


def test_pdf_has_one_section_per_page():
    path = Path("gettysburg.pdf")
    sections = load(make_pdf(), path)
    assert [(s.section, s.location, s.extra) for s in sections] == [
        ("page 1", "page 1", {"page": 1}),
        ("page 2", "page 2", {"page": 2}),
    ]
    assert sections[0].title == "The Gettysburg Address"
    assert "Four score" in sections[0].text and "civil war" in sections[1].text


def test_corrupt_and_encrypted_pdfs_are_rejected():
    pdf = make_pdf()
    with pytest.raises(FileError, match="corrupt PDF"):
        load(pdf[: len(pdf) // 3], Path("cut.pdf"))
    with pytest.raises(FileError, match="encrypted PDF"):
        load(make_pdf(password="s3cret"), Path("locked.pdf"))


def test_read_bytes_limits_size_and_refuses_special_files(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(FileError, match="too large"):
        read_bytes(big, max_bytes=1024)
    assert read_bytes(big, max_bytes=4096) == b"x" * 2048
    with pytest.raises(FileError, match="not a regular file"):
        read_bytes(tmp_path)
    with pytest.raises(FileError, match="unreadable"):
        read_bytes(tmp_path / "missing.md")


def test_source_types_by_extension():
    kinds = [
        source_type(Path(f"a.{ext}"))
        for ext in ["md", "markdown", "txt", "rst", "htm", "HTML", "pdf", "jsonl"]
    ]
    assert kinds == ["md", "md", "txt", "rst", "html", "html", "pdf", "json"]
    assert source_type(Path("a.docx")) is None


def test_chunks_carry_ids_locations_and_hashes():
    chunks = chunk_sections(
        _load("constitution.md"),
        rel_path="law/constitution.md",
        source_type="md",
        metadata={"tenant": "acme"},
    )
    meta = chunks[2].metadata
    assert meta["location"] == (
        "law/constitution.md § The Constitution of the United States > Article I > Section 2"
    )
    assert meta["source_type"] == "md" and meta["tenant"] == "acme"
    assert [c.metadata["chunk_index"] for c in chunks] == [0, 1, 2, 3]
    assert len({c.metadata["doc_id"] for c in chunks}) == 1
    records = chunk_sections(_load("later.jsonl"), rel_path="later.jsonl", source_type="json")
    assert [c.metadata["location"] for c in records] == [f"later.jsonl#{n}" for n in (13, 19, 26)]
    assert len({c.metadata["doc_id"] for c in records}) == 3
    assert {c.metadata["chunk_index"] for c in records} == {0}


def test_long_sections_are_split_with_overlap():
    from tools.loaders import Section

    text = "# T\n\n" + " ".join(f"word{i}" for i in range(600))
    chunks = chunk_sections(
        [Section(text, "T", "T", "T")],
        rel_path="t.md",
        source_type="md",
        chunk_size=500,
        chunk_overlap=100,
    )
    assert len(chunks) > 5 and all(len(c.text) <= 500 for c in chunks)
    assert chunks[1].text.split()[-1] in chunks[2].text


def test_parent_child_children_point_to_their_parent():
    sections = _load("constitution.md")
    chunks = chunk_sections(sections, rel_path="c.md", source_type="md", parent_child=True)
    assert all(len(c.text) <= 300 for c in chunks)
    section2 = [c for c in chunks if c.metadata["section"].endswith("Section 2")]
    assert len(section2) >= 2 and len({c.metadata["parent_id"] for c in section2}) == 1
    parent = section2[0].metadata["parent_text"]
    assert all(c.text in parent for c in section2) and len(parent) > 300


@pytest.mark.parametrize("bad", [{"path": "x"}, {"": 1}, {"tags": ["a"]}, {"n": None}])
def test_reserved_or_non_scalar_metadata_is_rejected(bad):
    with pytest.raises(ValueError, match="metadata"):
        check_metadata(bad)
