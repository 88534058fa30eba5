"""Checkpoints and atomic files: nothing half-written, nothing resumed from the wrong run.

A checkpoint is one ``.npz`` file (NumPy's zip of ``.npy`` arrays, read back with
``allow_pickle=False``: no pickle anywhere) holding a nested dict of arrays and a JSON ``meta``
entry: the format version, how far the run got, and the fingerprint of the run that wrote it (its
configuration fields and a digest of every input array). ``load`` compares that fingerprint with
the caller's and names the first field that differs.

Every file is written atomically: to a temporary file in the same folder, flushed and fsynced,
then renamed over the target (``os.replace`` is atomic on POSIX and Windows). The rename is the
"complete" marker: a crash leaves either the old file or the new one, never a truncated file that
looks complete. The ``.npz`` bytes are deterministic (fixed zip timestamps, no compression), so
equal arrays give byte-equal files.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed to ``path``.

    For writers that want a file name (``savefig``): ``with atomic_path(p) as tmp: fig.savefig(tmp,
    format="pdf")``. On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
    try:
        with np.load(path, allow_pickle=False) as archive:
            flat = {name: archive[name] for name in archive.files}
        meta = json.loads(bytes(flat.pop(_META)).decode("utf-8"))
    except FileNotFoundError:
        raise
    except Exception as err:  # zipfile.BadZipFile, EOFError, ValueError, KeyError, JSON errors
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
