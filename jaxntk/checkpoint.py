"""Checkpoints and atomic files: nothing half-written, nothing resumed from the wrong run.

A checkpoint is one ``.npz`` file (NumPy's zip of ``.npy`` arrays, read back with
``allow_pickle=False``: no pickle anywhere) holding a nested dict of arrays and a JSON ``meta``
entry: the format version, how far the run got, and the fingerprint of the run that wrote it (its
configuration fields and a digest of every input array). ``load`` compares that fingerprint with
the caller's and names the first field that differs.

Every file is written atomically: to a temporary file in the same folder, flushed and fsynced,
then renamed over the target (``os.replace`` is atomic on POSIX and Windows). The rename is the
"complete" marker: a crash leaves either the old file or the new one, never a truncated file that
looks complete. A group of files (``atomic_files``: an experiment's outputs) is first written in
full, then renamed in order, so a full disk leaves every old file as it was. Files get the mode a
plain ``open`` gives (0o666 less the umask), not ``mkstemp``'s 0o600. A write that fails (a full
disk, no permission) raises ``WriteError`` naming the file. The ``.npz`` bytes are deterministic
(fixed zip timestamps, no compression), so equal arrays give byte-equal files.

Reading back: ``read_json`` and ``read_npz`` are the one reader of each file kind; a file that is
missing, a folder, unreadable, truncated or not of its kind raises ``FileFormatError`` (a
``ValueError``) naming the file and the fix the caller passes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import jax
import numpy as np

FORMAT_VERSION = 2  # 2: the leaves of (state, logs) by position (jaxntk.runner)
_META = "__meta__"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the zip epoch: equal arrays give equal bytes


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, another format, or another run's."""


class WriteError(OSError):
    """An output that could not be written (a full disk, no permission); the old file is intact.

    ``errno`` is the operating system's (``errno.ENOSPC`` for a full disk); the message names the
    file.
    """

    def __str__(self):
        return self.strerror


class FileFormatError(ValueError):
    """A file that cannot be read as its kind: missing, a folder, truncated or foreign.

    ``reason`` says what was found (``"BadZipFile: File is not a zip file"``).
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only a fallback)
    os.umask(mask)
    return mask


def _write_error(path: Path, err: OSError) -> WriteError:
    reason = err.strerror or str(err)
    return WriteError(
        err.errno, f"cannot write {path} ({reason}); the previous {path.name} (if any) is left "
        "as it was: free space or pass a folder you can write to, then run again"
    )  # fmt: skip


class AtomicFiles:
    """Files written as a group: each to a temporary file beside it, then all renamed.

    ``path(target)`` returns the temporary path to write ``target`` to; ``commit`` fsyncs every
    temporary file and renames them in the order they were asked for; ``discard`` removes them.
    A rename needs no space, so once every file is written in full the group is renamed even on
    a full disk. With ``last_marks_complete`` the last file marks the group complete (an
    experiment's claims.json): its old version is removed before the first rename, so a crash
    among the renames never leaves old and new files that look complete together.
    """

    def __init__(self, last_marks_complete: bool = False):
        self.pending: list[tuple[Path, Path]] = []  # (temporary, target)
        self.last_marks_complete = last_marks_complete

    def path(self, target) -> Path:
        target = Path(target)
        try:
            handle, tmp = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
        except OSError as err:
            raise _write_error(target, err) from None
        try:
            os.fchmod(handle, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0o600
        finally:
            os.close(handle)
        self.pending.append((Path(tmp), target))
        return Path(tmp)

    def commit(self) -> None:
        for tmp, target in self.pending:
            try:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            except OSError as err:
                raise _write_error(target, err) from None
        if self.last_marks_complete and self.pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pending[-1][1])
        for tmp, target in self.pending:
            try:
                os.replace(tmp, target)
            except OSError as err:  # e.g. the target is a folder
                raise _write_error(target, err) from None
        self.pending = []

    def discard(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.pending = []


@contextlib.contextmanager
def atomic_files(last_marks_complete: bool = False):
    """Yield an ``AtomicFiles``; on success it is committed, on an exception discarded (every
    target untouched). An ``OSError`` while writing becomes a ``WriteError`` naming the file."""
    group = AtomicFiles(last_marks_complete)
    try:
        yield group
        group.commit()
    except OSError as err:
        group_target = group.pending[-1][1] if group.pending else None
        group.discard()
        if isinstance(err, WriteError) or group_target is None:
            raise
        raise _write_error(group_target, err) from None
    except BaseException:
        group.discard()
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed to ``path``.

    For writers that want a file name (``savefig``): ``with atomic_path(p) as tmp: fig.savefig(tmp,
    format="pdf")``. On an exception the temporary file is removed and ``path`` is untouched.
    """
    with atomic_files() as group:
        yield group.path(path)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: dict) -> bytes:
    """``np.savez`` of a flat dict of arrays, byte-for-byte reproducible (no pickled objects)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()


def save_npz(path, arrays: dict) -> Path:
    """Write a flat dict of arrays as an ``.npz`` atomically and reproducibly."""
    return atomic_write_bytes(path, npz_bytes(arrays))


def _opened(path: Path, kind: str, fix: str, read):
    if not path.exists():
        raise FileFormatError(f"{path} does not exist; {fix}", "missing")
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder, not a {kind} file; {fix}", "a folder")
    try:
        return read(path)
    except Exception as err:  # JSONDecodeError, BadZipFile, EOFError, OSError, pickled arrays
        reason = f"{type(err).__name__}: {err}"
        raise FileFormatError(
            f"{path} is not a readable {kind} file (corrupt or truncated? {reason}); {fix}", reason
        ) from None


def read_json(path, *, fix: str = "restore or delete it"):
    """The JSON value in ``path``; ``FileFormatError`` naming the file and ``fix`` if it cannot
    be read."""
    return _opened(Path(path), "JSON", fix, lambda p: json.loads(p.read_text(encoding="utf-8")))


def read_npz(path, *, fix: str = "restore or delete it") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles), each read in full, so a truncated or
    damaged member is found here; ``FileFormatError`` naming the file and ``fix`` otherwise."""

    def read(p):
        with np.load(p, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    return _opened(Path(path), ".npz", fix, read)


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (streamed), or of a folder's files (relative names and bytes,
    in sorted order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _escape(name: str) -> str:
    # "/" separates nesting levels in the flat names, and result keys use it too (e.g.
    # "concrete/step" in asym_regression): percent-encode "%" and "/" inside a key.
    return name.replace("%", "%25").replace("/", "%2F")


def _unescape(part: str) -> str:
    return re.sub("%(25|2F)", lambda m: "%" if m.group(1) == "25" else "/", part)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for name, value in tree.items():
        if not isinstance(name, str) or name == _META:
            raise ValueError(f"checkpoint keys must be strings other than {_META!r}, got {name!r}")
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{_escape(name)}/"))
        elif value is not None:
            flat[prefix + _escape(name)] = np.asarray(value)
    return flat


def _unflatten(flat: dict) -> dict:
    tree: dict = {}
    for name, value in flat.items():
        *parents, leaf = (_unescape(part) for part in name.split("/"))
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def key_data(key) -> np.ndarray:
    """A PRNG key as plain uint32 data (typed keys and legacy uint32 keys alike)."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key)


def digest(*arrays) -> str:
    """A short SHA-256 of the shapes, dtypes and bytes of ``arrays`` (None counts as absent)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def input_digests(params: dict, **arrays) -> dict:
    """A run's inputs as a fingerprint: ``params.<name>`` and each named array's ``digest``."""
    return {
        **{f"params.{k}": digest(v) for k, v in sorted(params.items())},
        **{name: digest(v) for name, v in arrays.items()},
    }


def save(path, tree: dict, meta: dict) -> Path:
    """Write ``tree`` (a nested dict of arrays; None leaves are skipped) and ``meta`` atomically.

    ``meta`` must be JSON-serialisable; ``format`` is added.
    """
    flat = _flatten(tree)
    text = json.dumps({"format": FORMAT_VERSION, **meta}, sort_keys=True)
    flat[_META] = np.frombuffer(text.encode("utf-8"), np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_npz(path, flat)


def _first_difference(expected, found, prefix=""):
    """The first field (dotted name) whose value differs, with both values, or None."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for name in sorted(set(expected) | set(found)):
            difference = _first_difference(expected.get(name), found.get(name), f"{prefix}{name}.")
            if difference:
                return difference
        return None
    if expected != found:
        return prefix.rstrip("."), expected, found
    return None


def load(path, expected: dict | None = None) -> tuple[dict, dict]:
    """``(tree, meta)`` of the checkpoint at ``path``.

    Args:
      path: the ``.npz`` written by ``save``.
      expected: the fingerprint this run would write (e.g. ``{"config": ..., "inputs": ...}``);
        every key of it must equal the stored one.

    Raises:
      CheckpointError: the file is unreadable or truncated, of another format version, or was
        written by a run with another fingerprint (the message names the first differing field).
    """
    path = Path(path)
    fix = f"delete {path}, or call again with resume=False (it overwrites the file), to start again"
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no checkpoint", str(path))
    try:
        flat = read_npz(path, fix=fix)
        meta = json.loads(bytes(flat.pop(_META)).decode("utf-8"))
    except FileFormatError as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({err.reason}); {fix}"
        ) from None
    except Exception as err:  # no meta entry (KeyError), or meta that is not JSON
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}); {fix}"
        ) from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {meta.get('format')!r}, this jaxntk writes "
            f"{FORMAT_VERSION}; {fix}"
        )
    expected = json.loads(json.dumps(expected or {}, sort_keys=True))  # tuples -> lists, as stored
    for name, value in expected.items():
        difference = _first_difference(value, meta.get(name), f"{name}.")
        if difference:
            field, want, got = difference
            raise CheckpointError(
                f"checkpoint {path} was written by a different configuration "
                f"(field {field}: {got!r} in the checkpoint vs {want!r} now); {fix}"
            )
    return _unflatten(flat), meta


def read_meta(path) -> dict:
    """The ``meta`` of the checkpoint at ``path`` alone (its arrays are not read)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(bytes(archive[_META]).decode("utf-8"))
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err})"
        ) from None
