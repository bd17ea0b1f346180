"""The batch job's memory: one SQLite row per input with its state, outputs or error.

SQLite in WAL mode with ``synchronous=FULL`` makes every state change durable at commit, so a job
killed with ``kill -9`` (or a lost node) restarts from exactly what it had finished. Only the
coordinating process writes here; workers return results to it.

States: ``pending`` -> ``running`` -> ``done`` | ``error``. On resume, ``running`` rows (work cut
off by the kill) go back to ``pending``; their outputs are rewritten under the same names, and
outputs are only ever moved into place whole, so nothing is lost, duplicated or half-written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import ConfigError

SCHEMA_VERSION = "1"
STATES = ("pending", "running", "done", "error")


@dataclass(frozen=True)
class Item:
    id: int
    input: str
    out_stem: str  # outputs are <out dir>/<out_stem><format extension>
    state: str
    attempts: int
    pages: int
    outputs: Tuple[str, ...]
    error: Optional[str]


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS items (
                id INTEGER PRIMARY KEY,
                input TEXT NOT NULL UNIQUE,
                out_stem TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                pages INTEGER NOT NULL DEFAULT 0,
                outputs TEXT NOT NULL DEFAULT '[]',
                error TEXT,
                updated REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS items_state ON items(state);
        """)

    def close(self) -> None:
        self._db.close()

    # -- job identity ----------------------------------------------------------------------
    def meta(self) -> Dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def bind(self, formats: Sequence[str]) -> bool:
        """Record the job's formats, or check a resumed job asks for the same. True if new."""
        meta = self.meta()
        wanted = ",".join(formats)
        if not meta:
            with self._tx():
                self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                     [("schema", SCHEMA_VERSION), ("formats", wanted), ("created", repr(time.time()))])
            return True
        if meta.get("schema") != SCHEMA_VERSION:
            raise ConfigError(f"{self.path}: manifest schema {meta.get('schema')} is not {SCHEMA_VERSION}")
        if meta.get("formats") != wanted:
            raise ConfigError(f"{self.path.parent} holds a job with formats {meta.get('formats')}, not {wanted}: "
                              f"resume with the same --format or use another output directory")
        return False

    # -- items -----------------------------------------------------------------------------
    def add(self, inputs: Iterable[Tuple[str, str]]) -> int:
        """Add (input, wanted out_stem) pairs not yet known; a stem already taken gets -2, -3...
        Returns how many were new."""
        known = {row[0] for row in self._db.execute("SELECT input FROM items")}
        stems = {row[0] for row in self._db.execute("SELECT out_stem FROM items")}
        rows = []
        now = time.time()
        for source, stem in inputs:
            if source in known:
                continue
            unique, n = stem, 1
            while unique in stems:
                n += 1
                unique = f"{stem}-{n}"
            stems.add(unique)
            known.add(source)
            rows.append((source, unique, now))
        with self._tx():
            self._db.executemany("INSERT INTO items (input, out_stem, updated) VALUES (?, ?, ?)", rows)
        return len(rows)

    def requeue_interrupted(self, retry_errors: bool = False) -> int:
        """Rows left ``running`` by a killed job (and, if asked, ``error`` rows) back to pending."""
        states = ("running", "error") if retry_errors else ("running",)
        marks = ",".join("?" * len(states))
        with self._tx():
            cur = self._db.execute(f"UPDATE items SET state='pending', error=NULL, updated=? WHERE state IN ({marks})",
                                   (time.time(), *states))
        return cur.rowcount

    def pending(self) -> List[Item]:
        return self._items("WHERE state='pending' ORDER BY id")

    def mark_running(self, item_id: int) -> None:
        self._set(item_id, "state='running', attempts=attempts+1")

    def mark_done(self, item_id: int, outputs: Sequence[str], pages: int) -> None:
        self._set(item_id, "state='done', outputs=?, pages=?, error=NULL", json.dumps(list(outputs)), pages)

    def mark_error(self, item_id: int, message: str) -> None:
        self._set(item_id, "state='error', error=?, outputs='[]'", message)

    def release(self, item_id: int) -> None:
        """Back to pending (its worker died; it will be tried again)."""
        self._set(item_id, "state='pending'")

    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        counts.update(dict(self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()))
        return counts

    def items(self) -> List[Item]:
        return self._items("ORDER BY id")

    def pages_done(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(pages), 0) FROM items WHERE state='done'").fetchone()[0])

    # -- internals -------------------------------------------------------------------------
    def _items(self, where: str) -> List[Item]:
        rows = self._db.execute(f"SELECT id, input, out_stem, state, attempts, pages, outputs, error FROM items {where}")
        return [Item(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7]) for r in rows]

    def _set(self, item_id: int, assignments: str, *values) -> None:
        with self._tx():
            self._db.execute(f"UPDATE items SET {assignments}, updated=? WHERE id=?", (*values, time.time(), item_id))

    def _tx(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, exc, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
