"""BM25 keyword index of a knowledge base, stored on disk beside its Chroma collection.

The index lives in ``<data_dir>/bm25/<kb>/``: each build is written to a fresh version
directory and then published by atomically replacing the ``CURRENT`` pointer file, so an
interrupted build leaves the previous index in use. Beside the ids, a version records the
tenants its chunks belong to (``tenants.json``) and the users who own some of them
(``owners.json``), so searches can exclude every other tenant's and user's chunks.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

K1 = 0.9
B = 0.4
POINTER = "CURRENT"
IDS_FILE = "ids.json"
TENANTS_FILE = "tenants.json"
OWNERS_FILE = "owners.json"

_stemmer = Stemmer.Stemmer("english")


def index_dir(data_dir: str | os.PathLike[str], kb: str) -> Path:
    """The directory holding the BM25 versions of knowledge base ``kb``."""
    return Path(data_dir) / "bm25" / kb


def _tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False
    )


class LexicalIndex:
    """A BM25 index over chunk ids, in the order they were indexed.

    Example:
        >>> idx = LexicalIndex.build(["a", "b"], ["overdraft fees", "wire transfers"])
        >>> idx.search("overdraft", 1)[0][0]
        'a'
    """

    def __init__(
        self,
        model: bm25s.BM25 | None,
        ids: list[str],
        version: str = "",
        tenants: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> None:
        self._model = model
        self.ids = ids
        self.version = version
        self.tenants = tenants
        """Distinct tenants of the indexed chunks (None: unknown, an index from before)."""
        self.owners = owners
        """Distinct owners of the indexed chunks (None: unknown, an index from before)."""
        self._pos = {cid: i for i, cid in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        texts: Sequence[str],
        tenants: Iterable[str] = (),
        owners: Iterable[str] = (),
    ) -> LexicalIndex:
        """Index ``texts`` (title plus content of each chunk) under their chunk ``ids``.

        Args:
            ids: Chunk ids.
            texts: The text indexed for each chunk.
            tenants: The tenants the chunks belong to (duplicates allowed).
            owners: The users who own chunks (duplicates allowed).
        """
        if len(ids) != len(texts):
            raise ValueError("ids and texts must have the same length")
        scopes = {"tenants": sorted(set(tenants)), "owners": sorted(set(owners))}
        if not ids:
            return cls(None, [], **scopes)
        model = bm25s.BM25(k1=K1, b=B)
        model.index(_tokenize(list(texts)), show_progress=False)
        return cls(model, list(ids), **scopes)

    def positions(self, ids: Iterable[str]) -> np.ndarray:
        """Positions of the indexed ``ids`` (unknown ids are skipped), for `restrict`."""
        return np.fromiter((self._pos[c] for c in ids if c in self._pos), dtype=np.int64, count=-1)

    @staticmethod
    def restrict(scores: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``scores`` with every position outside ``positions`` set to 0."""
        if not scores.size:
            return scores
        out = np.zeros_like(scores)
        out[positions] = scores[positions]
        return out

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed chunk for ``query`` (zeros when nothing matches)."""
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        vocab = self._model.vocab_dict
        tokens = [t for t in _tokenize([query])[0] if t in vocab]
        if not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def search(
        self, query: str, n: int, allow: Iterable[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` best ``(chunk_id, score)`` pairs with a positive score, best first.

        Args:
            query: Free-text query.
            n: How many results at most.
            allow: Optional allow-list of chunk ids; others are never returned.
        """
        scores = self.scores(query)
        if not scores.size or n <= 0:
            return []
        if allow is not None:
            scores = self.restrict(scores, self.positions(allow))
        n = min(n, scores.size)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def score_of(self, scores: np.ndarray, chunk_id: str) -> float:
        """Pick ``chunk_id``'s entry out of a `scores` array (0 when not indexed)."""
        pos = self._pos.get(chunk_id)
        return float(scores[pos]) if pos is not None and pos < scores.size else 0.0

    def save(self, root: str | os.PathLike[str]) -> None:
        """Publish this index as the current version under ``root``, atomically."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        version = f"v-{uuid.uuid4().hex[:12]}"
        target = root / version
        target.mkdir()
        if self._model is not None:
            self._model.save(str(target), show_progress=False)
        (target / IDS_FILE).write_text(json.dumps(self.ids), encoding="utf-8")
        for name, values in ((TENANTS_FILE, self.tenants), (OWNERS_FILE, self.owners)):
            if values is not None:
                (target / name).write_text(json.dumps(values), encoding="utf-8")
        tmp = root / f".{POINTER}.{version}.tmp"
        tmp.write_text(version, encoding="utf-8")
        os.replace(tmp, root / POINTER)
        self.version = version
        for old in root.iterdir():
            if old.name != version and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> LexicalIndex | None:
        """The current index under ``root``, or None when there is none (or it is unreadable)."""
        version = current_version(root)
        if not version:
            return None
        folder = Path(root) / version
        try:
            ids = json.loads((folder / IDS_FILE).read_text(encoding="utf-8"))
            model = bm25s.BM25.load(str(folder), show_progress=False) if ids else None
        except (OSError, ValueError):
            return None
        tenants, owners = (_read_list(folder / name) for name in (TENANTS_FILE, OWNERS_FILE))
        return cls(model, ids, version, tenants, owners)


def _read_list(path: Path) -> list[str] | None:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(v) for v in values] if isinstance(values, list) else None


def current_version(root: str | os.PathLike[str]) -> str:
    """Name of the published version under ``root`` ('' when none)."""
    try:
        return (Path(root) / POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def remove(root: str | os.PathLike[str]) -> None:
    """Delete every version of the index under ``root``."""
    shutil.rmtree(root, ignore_errors=True)
