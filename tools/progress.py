"""The ingestion progress display: files read, chunks embedded and chunks per second."""

from __future__ import annotations

from typing import Any


class IngestProgress:
    """A Rich progress display on stderr, or a no-op when disabled.

    Example:
        >>> with IngestProgress(False, total_files=2) as bar:
        ...     bar.file_done()
    """

    def __init__(self, enabled: bool, total_files: int) -> None:
        self.enabled = enabled
        self.total_files = total_files
        self._bar: Any = None
        self._files: Any = None
        self._chunks: Any = None
        self._expected = 0

    def __enter__(self) -> IngestProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                if task.fields.get("unit") != "chunks" or not speed:
                    return Text("")
                return Text(f"{speed:,.1f} chunks/s", style="progress.data.speed")

        self._bar = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._bar.__enter__()
        self._files = self._bar.add_task("files", total=self.total_files, unit="files")
        self._chunks = self._bar.add_task("chunks embedded", total=0, unit="chunks")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def file_done(self) -> None:
        """One more file handled (ingested, unchanged, skipped or failed)."""
        if self._bar is not None:
            self._bar.advance(self._files)

    def expect_chunks(self, n: int) -> None:
        """``n`` more chunks are waiting to be embedded."""
        self._expected += n
        if self._bar is not None and n:
            self._bar.update(self._chunks, total=self._expected)

    def chunks_written(self, n: int) -> None:
        """``n`` chunks were embedded and stored."""
        if self._bar is not None:
            self._bar.advance(self._chunks, n)
