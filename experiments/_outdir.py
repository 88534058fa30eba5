"""An experiment's output folder: held by one run at a time; the run's input files fingerprinted.

Lock: a run holds its folder by ``fcntl.flock`` on ``FOLDER/.lock`` (its PID written inside) for
as long as it writes there (``hold``). The operating system releases the lock when the process
ends, however it ends, so a killed run never blocks a resume; a second run on a held folder is
refused at once, naming the holder's PID. The lock file is removed (while still held) when the
run ends; a waiter that opened it before checks that it locked the file still at that path. A run
holds its folder only while it writes (``experiments._cli.execute``, ``jaxntk reproduce``);
``run(cfg)`` in a notebook writes nothing and takes no lock.

Input files: a Config field that names a file the run reads is declared with ``input_file()``
(``features: str = _cli.input_file()``); ``data_options`` entries named in
``DATA_FILE_OPTIONS`` (``path``, read by ``jaxntk.data.load``) are input files too. Their SHA-256
(streamed; a folder: its files) is part of every checkpoint's fingerprint, so a resume after the
file changed is refused by name (``changed_input``) instead of mixing old and new data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = ".lock"
INPUT_FILE = "jaxntk.input_file"  # dataclasses.field metadata: the field names an input file
DATA_FILE_OPTIONS = ("path",)  # data_options entries that jaxntk.data.load reads from disk
_BUSY_TRIES = 5  # a folder found locked is asked again (20 ms apart): a probe is not a holder

_held: dict[Path, list] = {}  # folders this process holds: resolved path -> [fd, depth]


class FolderBusy(ValueError):
    """The folder is held by another running process."""


def _pid(fd: int) -> str:
    return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"


def holder(folder) -> str | None:
    """The PID (text) of the process holding ``folder``, or None when no other process holds
    it. Creates nothing."""
    folder = Path(folder)
    if folder.resolve() in _held:
        return None
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file: nobody holds it (an unreadable one: hold() says so)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def busy_message(folder, pid: str, flag: str = "--outdir") -> str:
    lock = Path(folder) / LOCK_FILE
    return (
        f"{flag} {folder} is in use by another run (PID {pid}, holding {lock}); wait for it to "
        f"finish, or pass another {flag}"
    )


def _acquire(folder: Path, flag: str) -> int:
    lock, busy = folder / LOCK_FILE, 0
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed by a run that just released it
            continue
        except OSError as err:
            raise ValueError(
                f"{flag} {folder} cannot be locked for writing ({err.strerror or err}); pass a "
                "folder you can write to"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid(fd)
            os.close(fd)
            busy += 1
            if busy >= _BUSY_TRIES:
                raise FolderBusy(busy_message(folder, pid, flag)) from None
            time.sleep(0.02)
            continue
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:  # its holder removed the file as it released it: lock the new one
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return fd


@contextlib.contextmanager
def hold(folder, flag: str = "--outdir"):
    """Hold ``folder`` (created if missing) for the ``with`` block, or raise ``FolderBusy``.

    Re-entrant within a process (``main`` holds the folder, ``execute`` inside it again). On exit
    the lock file is removed, and the folders this call created are removed again if the run
    left them empty (a run refused by its inputs leaves no trace).
    """
    folder = Path(folder)
    key = folder.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    created = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        created.append(path)
    fd = _acquire(folder, flag)
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / LOCK_FILE)  # still held: a waiter re-checks the path's file
        os.close(fd)
        for path in created:  # innermost first; stops at the first that is not empty
            try:
                path.rmdir()
            except OSError:
                break


# ----------------------------------------------------------------------------------- inputs


def input_file(kind: str = "npz", default: str = ""):
    """A Config field naming an input file of ``kind`` ("npz", or "any": a file or a folder);
    "" = none. Its content (SHA-256) is part of the run's fingerprint."""
    return dataclasses.field(default=default, metadata={INPUT_FILE: kind})


def input_files(cfg) -> dict[str, tuple[str, Path, str]]:
    """``{key: (flag, path, kind)}`` of every input file ``cfg`` names: its ``input_file()``
    fields and its ``data_options`` entries in ``DATA_FILE_OPTIONS``."""
    out = {}
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if field.metadata.get(INPUT_FILE) and value:
            out[field.name] = (f"--{field.name}", Path(value), field.metadata[INPUT_FILE])
    if any(f.name == "data_options" for f in dataclasses.fields(cfg)):
        for name, value in cfg.data_options:
            if name in DATA_FILE_OPTIONS and value:
                flag = f"--data_options {name}:"
                out[f"data_options.{name}"] = (flag, Path(str(value)), "any")
    return out


def input_digests(cfg) -> dict[str, str]:
    """``{key: sha256}`` of ``cfg``'s input files, each checked first: it exists, is of its
    kind, and (an ``.npz``) reads in full. ``ValueError`` naming the flag and the fix if not."""
    from jaxntk import checkpoint

    out = {}
    for key, (flag, path, kind) in input_files(cfg).items():
        fix = f"pass an existing, complete file to {flag.rstrip(':')}"
        sep = "" if flag.endswith(":") else " "
        if not path.exists():
            raise ValueError(f"{flag}{sep}{path} does not exist; {fix}")
        if kind == "npz":
            try:
                checkpoint.read_npz(path, fix=fix)
            except checkpoint.FileFormatError as err:
                raise ValueError(f"{flag}{sep}{err}") from None
        try:
            out[key] = checkpoint.file_digest(path)
        except OSError as err:
            reason = err.strerror or err
            raise ValueError(f"{flag}{sep}{path} cannot be read ({reason}); {fix}") from None
    return out


def changed_input(digests: dict, config: dict, meta: dict, where: str) -> str | None:
    """Why the saved ``meta`` (a checkpoint's, or a finished result's) is of other input file
    content than ``digests`` now, for the same file names in ``config``; None if it is not."""
    saved = meta.get("inputs") or {}
    for key, digest in digests.items():
        field = key.split(".")[0]
        if meta.get("config", {}).get(field) != config.get(field):
            continue  # another file named: the configuration differs, said elsewhere
        if saved.get(key) == digest:
            continue
        flag, _, value = key.partition(".")
        name = config[field] if not value else dict(config[field])[value]
        then = f"sha256 {saved[key][:12]}…" if key in saved else "no record of its content"
        return (
            f"--{flag}{' ' + value + ':' if value else ' '}{name} has changed since {where} "
            f"({then} then, sha256 {digest[:12]}… now); restore that file, or pass --overwrite "
            "to start again with the new one"
        )
    return None
