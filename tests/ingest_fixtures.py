"""Real files for the ingestion tests: the mixed-format fixture corpus and generated PDFs."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "ingest" / "corpus"
GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.",
    "Now we are engaged in a great civil war, testing whether that nation, or any nation so "
    "conceived and so dedicated, can long endure.",
)


def make_pdf(pages: tuple[str, ...] = GETTYSBURG, *, password: str | None = None) -> bytes:
    """A real PDF (fpdf2) with one page per text, titled "The Gettysburg Address"."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.set_title("The Gettysburg Address")
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    if password:
        pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    return bytes(pdf.output())


def mixed_corpus(dest: Path) -> Path:
    """Copy the fixture corpus to ``dest`` and add a 2-page PDF, a corrupt PDF (truncated)
    and a binary file with a text extension."""
    shutil.copytree(FIXTURES, dest)
    pdf = make_pdf()
    (dest / "gettysburg.pdf").write_bytes(pdf)
    (dest / "truncated.pdf").write_bytes(pdf[: len(pdf) // 3])
    (dest / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    return dest
