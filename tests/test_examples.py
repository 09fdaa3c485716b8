"""The runnable examples run, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_thread_example(banking_kb):
    done = subprocess.run(
        [sys.executable, "examples/python_thread.py", "--data-dir", banking_kb],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "LANGSMITH_TRACING": "false", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "interrupt: clarify:" in out
    assert "node: clarify_question" in out and "node: finalize" in out
    assert "Early closure fee" in out
    assert "messages in thread: 6" in out
