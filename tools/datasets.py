"""Where the shared benchmark data lives: ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$AGENTIC_RAG_SHARED_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("AGENTIC_RAG_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def squad_dev_path() -> Path:
    """SQuAD v1.1 dev (CC BY-SA 4.0), see ``shared/data/squad/README.md``."""
    return shared_data_dir() / "squad" / "squaddev_v1.1.json"
