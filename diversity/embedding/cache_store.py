"""One embedder's folder of the embedding cache: shards of vectors, and an SQLite index of where each text is.

Layout of ``cache_dir/<embedder slug>-<id hash>/``:

- ``embedder.txt``: the embedder's id.
- ``<hash>.npz``: shards, each ``keys`` ((n, 16) uint8: 16 bytes of each
  text's SHA-256) and ``vectors`` ((n, d) float32), written atomically and
  named by the hash of their keys (the same texts give the same name).
- ``index.sqlite``: key → (shard, row), and each shard's size, mtime and
  inode as they were when it was indexed.

A read looks its keys up in the index and opens only the shards that hold
them, so it costs the same with millions of entries as with a few. The index
is a cache of the shards, never the truth: before each read, shards that
appeared, changed or vanished since they were indexed (another process's,
or an older version's) are indexed again, a vector is used only when its
shard's key at that row is the text's, and an index SQLite cannot read is
rebuilt from the shards with a warning. A shard that cannot be read is
skipped with a warning naming it and recorded as damaged until it changes,
so its texts are embedded again. Several processes may read and write one
folder at once: SQLite locks the index, shards are whole files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rollout_common.errors import OptionError, OutputError
from rollout_common.files import atomic_path, write_text_atomic

log = logging.getLogger("diversity")

INDEX_NAME = "index.sqlite"
# Seconds a process waits for another's lock on the index before giving up.
_LOCK_TIMEOUT = 60.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    rows INTEGER NOT NULL  -- -1: the shard could not be read (damaged) when it had this size, mtime and inode
);
CREATE TABLE IF NOT EXISTS entries (key BLOB PRIMARY KEY, shard INTEGER NOT NULL, row INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_shard ON entries (shard);
"""
_DAMAGED_INDEX = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


class ShardError(Exception):
    """A shard file that cannot be used: unreadable, or its arrays disagree."""


class CacheStore:
    """The shards and index of one embedder's cache folder (see the module doc)."""

    def __init__(self, cache_dir: str | Path, embedder_id: str):
        self.folder = embedder_folder(Path(cache_dir), embedder_id)
        self.index_path = self.folder / INDEX_NAME
        self._db: sqlite3.Connection | None = None
        self._guarded(lambda: self.db)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = _connect(self.index_path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CacheStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def read(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vector of each key that has one."""
        located = self._guarded(lambda: (self._sync(), self._locate(keys))[1])
        found: dict[bytes, np.ndarray] = {}
        width = None
        for name in sorted(located):
            shard = self.folder / name
            try:
                shard_keys, vectors = read_shard(shard)
                if width is not None and vectors.shape[1] != width:
                    raise ShardError(f"vectors of width {vectors.shape[1]}, not {width}")
                rows = located[name]
                if any(row >= len(shard_keys) or bytes(shard_keys[row]) != key for key, row in rows):
                    raise ShardError("its keys are not the ones indexed")
            except ShardError as error:
                log.warning("embedding cache: skipping unreadable shard %s (%s)", shard, error)
                self._guarded(lambda: self._mark_damaged(shard))
                continue
            except FileNotFoundError:  # removed since the index was read: its texts are embedded again
                self._guarded(lambda: self._forget_in_transaction(name))
                continue
            width = vectors.shape[1]
            picked = vectors[[row for _, row in rows]]  # a copy, so the shard's array is freed before the next
            found.update((key, vector) for (key, _), vector in zip(rows, picked))
        return found

    def _locate(self, keys: Sequence[bytes]) -> dict[str, list[tuple[bytes, int]]]:
        """shard name → [(key, row)] for the keys the index holds."""
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (key BLOB PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM wanted")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((k,) for k in keys))
        located: dict[str, list[tuple[bytes, int]]] = {}
        query = "SELECT e.key, s.name, e.row FROM wanted w JOIN entries e ON e.key = w.key JOIN shards s ON s.id = e.shard"
        for key, name, row in db.execute(query):
            located.setdefault(name, []).append((bytes(key), row))
        db.execute("DELETE FROM wanted")
        return located

    # ------------------------------------------------------------------ writing

    def write(self, keys: Sequence[bytes], vectors: np.ndarray) -> Path:
        """Add one shard holding ``vectors`` for ``keys`` and index it."""
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)
        path = self.folder / f"{hashlib.sha256(key_array.tobytes()).hexdigest()[:20]}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, keys=key_array, vectors=np.asarray(vectors, dtype=np.float32))
        self._guarded(lambda: self._index(path, key_array, replace=True))
        return path

    # ------------------------------------------------------------------ the index

    def _sync(self) -> None:
        """Index the shards that are new or changed since they were indexed; forget the ones gone."""
        on_disk = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.endswith(".npz") and not entry.name.startswith("."):
                    on_disk[entry.name] = _signature(entry.stat())
        indexed = {name: tuple(sig) for name, *sig in self.db.execute("SELECT name, size, mtime_ns, inode FROM shards")}
        gone = [name for name in indexed if name not in on_disk]
        if gone:
            with self._transaction():
                for name in gone:
                    self._forget(name)
        for name in sorted(on_disk):
            if indexed.get(name) != on_disk[name]:
                path = self.folder / name
                try:
                    keys, _ = read_shard(path, keys_only=True)
                except ShardError as error:
                    log.warning("embedding cache: skipping unreadable shard %s (%s)", path, error)
                    self._mark_damaged(path)
                    continue
                except FileNotFoundError:  # removed since the listing
                    continue
                self._index(path, keys, replace=False)

    def _index(self, path: Path, keys: np.ndarray, *, replace: bool) -> None:
        """Record ``path`` holding ``keys``. A key already in another shard moves to this one only with ``replace``."""
        try:
            signature = _signature(path.stat())
        except FileNotFoundError:
            return
        with self._transaction():
            shard = self._forget(path.name, then_add=(*signature, len(keys)))
            verb = "REPLACE" if replace else "IGNORE"
            self.db.executemany(f"INSERT OR {verb} INTO entries VALUES (?, ?, ?)",
                                 ((bytes(k), shard, row) for row, k in enumerate(keys)))

    def _mark_damaged(self, path: Path) -> None:
        try:
            signature = _signature(path.stat())
        except FileNotFoundError:
            signature = (-1, -1, -1)
        with self._transaction():
            self._forget(path.name, then_add=(*signature, -1))

    def _forget(self, name: str, then_add: tuple | None = None) -> int | None:
        """Drop a shard and its entries from the index; with ``then_add`` (size, mtime, inode, rows), add it anew."""
        for (shard,) in self.db.execute("SELECT id FROM shards WHERE name = ?", (name,)).fetchall():
            self.db.execute("DELETE FROM entries WHERE shard = ?", (shard,))
            self.db.execute("DELETE FROM shards WHERE id = ?", (shard,))
        if then_add is None:
            return None
        cursor = self.db.execute("INSERT INTO shards (name, size, mtime_ns, inode, rows) VALUES (?, ?, ?, ?, ?)",
                                  (name, *then_add))
        return cursor.lastrowid

    def _forget_in_transaction(self, name: str) -> None:
        with self._transaction():
            self._forget(name)

    def _transaction(self):
        return _Transaction(self.db)

    def _guarded(self, action):
        """Run ``action`` on the index. An index SQLite finds damaged is removed with a warning and ``action``
        run again on a fresh one (which the next read fills from the shards); any other failure is an OutputError."""
        for attempt in (1, 2):
            try:
                return action()
            except sqlite3.DatabaseError as error:
                if attempt == 2 or getattr(error, "sqlite_errorname", None) not in _DAMAGED_INDEX:
                    raise OutputError(f"cannot use the embedding cache index {self.index_path} ({error}); "
                                      "pass another --cache-dir, or --no-cache") from None
                log.warning("embedding cache: index %s is damaged (%s); rebuilding it from the shards",
                            self.index_path, error)
                self.close()
                for suffix in ("", "-journal", "-wal", "-shm"):
                    Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    """The index, its tables made when missing (under the write lock, so two processes never race to make them)."""
    db = sqlite3.connect(path, timeout=_LOCK_TIMEOUT, isolation_level=None)
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages: a million random keys insert without thrashing
    try:
        if db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'entries'").fetchone()[0] == 0:
            with _Transaction(db):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
    except BaseException:
        db.close()
        raise
    return db


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: a writer takes the lock up front, so two writers never deadlock."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, error, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _signature(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ino


def read_shard(path: Path, *, keys_only: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(keys, vectors) of a shard, checked for shape; with ``keys_only`` the vectors' shape is checked, not read."""
    try:
        with np.load(path) as data:
            keys = data["keys"]
            if keys_only:
                with zipfile.ZipFile(path) as archive, archive.open("vectors.npy") as member:
                    version = np.lib.format.read_magic(member)
                    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = header(member)
                vectors = None
            else:
                vectors = data["vectors"]
                shape, dtype = vectors.shape, vectors.dtype
    except FileNotFoundError:
        raise
    except Exception as error:  # zip, CRC, npy-header and pickle-refusal errors all mean: unusable
        raise ShardError(f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}") from None
    if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 16:
        raise ShardError(f"keys of shape {keys.shape} and type {keys.dtype}, not (n, 16) uint8")
    if len(shape) != 2 or shape[0] != len(keys) or not np.issubdtype(dtype, np.floating):
        raise ShardError(f"keys {keys.shape} do not match vectors {tuple(shape)} of type {dtype}")
    return keys, vectors


def embedder_folder(cache_dir: Path, embedder_id: str) -> Path:
    """``cache_dir/<slug>-<id hash>``, made (with its ``embedder.txt``) when missing."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_id)[-60:].strip("_")
    folder = cache_dir / f"{slug}-{hashlib.sha256(embedder_id.encode()).hexdigest()[:12]}"
    if not folder.is_dir():
        if cache_dir.exists() and not cache_dir.is_dir():
            raise OptionError(f"cache directory {cache_dir} is a file; give a folder path")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot make the embedding cache folder {folder} ({error.strerror}); "
                              "pass another --cache-dir, or --no-cache") from None
        write_text_atomic(folder / "embedder.txt", embedder_id + "\n")
    return folder
