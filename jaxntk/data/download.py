"""Where data files live, and the one way a file is ever downloaded: pinned URL + SHA-256.

Search order for a data file (``find``): ``$JAXNTK_DATA``, the user cache directory
(``$XDG_CACHE_HOME/jaxntk`` or ``~/.cache/jaxntk``), then any extra system locations a loader
names (e.g. Debian's ``/usr/share/datasets/fashion-mnist``). ``fetch`` downloads into the cache
directory, verifies the SHA-256 before the file is used, and fails with instructions (what to get,
from where, where to put it) when there is no network. A file that fails its checksum is renamed
``*.bad`` and never read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path


class DataUnavailableError(FileNotFoundError):
    """A data set's files are not on this machine (the message says how to obtain them)."""


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the pinned one; the file was set aside, not used."""


def cache_dir() -> Path:
    """The user cache directory, ``$XDG_CACHE_HOME/jaxntk`` or ``~/.cache/jaxntk``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxntk"


def search_dirs(subdir: str, extra=()) -> list[Path]:
    """Folders searched for a data set's files, in order."""
    dirs = []
    if os.environ.get("JAXNTK_DATA"):
        root = Path(os.environ["JAXNTK_DATA"])
        dirs += [root / subdir, root]
    dirs.append(cache_dir() / subdir)
    dirs += [Path(p) for p in extra]
    return dirs


def find(filenames, subdir: str, extra=()) -> Path | None:
    """The first searched folder that holds every one of ``filenames``, or None."""
    for folder in search_dirs(subdir, extra):
        if all((folder / name).is_file() for name in filenames):
            return folder
    return None


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str | None) -> None:
    """Raise ``ChecksumError`` (after renaming the file to ``*.bad``) on a SHA-256 mismatch."""
    got = sha256(path)
    if expected is None:
        # Say so rather than pretend: the file is used, unverified, and its hash is printed so
        # that it can be compared with another copy and pinned.
        warnings.warn(
            f"{path.name} is NOT verified: no SHA-256 is pinned for it; its SHA-256 is {got}",
            stacklevel=3,
        )
        return
    if got != expected.lower():
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        raise ChecksumError(
            f"{path.name}: SHA-256 {got} does not match the pinned {expected}; the file was not "
            f"used and is set aside as {bad}. Delete it and download again (or check the source)."
        )


def fetch(url: str, dest: Path, expected_sha256: str | None, *, what: str = "") -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify its SHA-256; returns ``dest``.

    Raises:
      DataUnavailableError: the download failed (e.g. no network); the message names the URL and
        the exact path to put the file at by hand.
      ChecksumError: the downloaded file's hash differs from ``expected_sha256``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                shutil.copyfileobj(response, tmp)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DataUnavailableError(
            f"could not download {what or dest.name} from {url} ({err}). No network here? "
            f"Download it on a machine that has one and put it at {dest} "
            f"(or in $JAXNTK_DATA/{dest.parent.name}/)."
        ) from err
    tmp_path = Path(tmp.name)
    verify(tmp_path, expected_sha256)
    tmp_path.replace(dest)
    return dest


def obtain(files: dict, subdir: str, base_url: str, *, what: str, extra=(), download=True):
    """The folder holding every file of ``files`` ({name: sha256 or None}), downloading if asked.

    Files found in a searched folder are verified too; a missing set is downloaded into the cache
    directory when ``download`` is true.
    """
    folder = find(files, subdir, extra)
    if folder is not None:
        if folder not in [Path(p) for p in extra]:  # system folders belong to their package
            for name, digest in files.items():
                verify(folder / name, digest)
        return folder
    looked = ", ".join(str(d) for d in search_dirs(subdir, extra))
    if not download:
        raise DataUnavailableError(
            f"{what} is not on this machine: looked for {', '.join(files)} in {looked}. "
            f"Download them from {base_url} into {cache_dir() / subdir} (or $JAXNTK_DATA/{subdir})."
        )
    target = cache_dir() / subdir
    for name, digest in files.items():
        if not (target / name).is_file():
            fetch(base_url + name, target / name, digest, what=f"{what} ({name})")
        else:
            verify(target / name, digest)
    return target
