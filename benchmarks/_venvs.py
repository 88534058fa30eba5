"""Cached virtual environments for the official codes (``benchmarks.official``).

Each official code runs under its own interpreter, built from the registry into
``<cache>/<name>`` (default ``~/.cache/jaxntk/bench-venvs``). A venv is reused while the
requirement list and the Python it was built with are unchanged (recorded in ``REQUIREMENTS``
inside it), and rebuilt from scratch otherwise, so a stale or half-built venv is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# torch is pinned to 2.13.0 because that CPU build is what the registry set-up here serves
# locally; any other torch (or an unpinned one) pulls a multi-GB CUDA build. TensorFlow is
# pinned so that reruns time the same official stack (the release current when this was written).
VENVS = {
    "tf": ("tensorflow-cpu==2.21.0", "numpy"),
    "torch": ("torch==2.13.0", "numpy", "scipy", "tqdm"),
}
# The distributions whose versions are recorded with each result.
RECORDED = {"tf": ("tensorflow-cpu", "numpy"), "torch": ("torch", "numpy", "scipy")}
MARKER = "REQUIREMENTS"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxntk" / "bench-venvs"


def _fingerprint(requirements) -> str:
    return json.dumps({"python": sys.version.split()[0], "requirements": list(requirements)})


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(name: str, cache: Path, log=print) -> tuple[Path, float | None]:
    """The interpreter of venv ``name`` and its build time in seconds (None: reused)."""
    requirements = VENVS[name]
    venv = cache / name
    marker = venv / MARKER
    wanted = _fingerprint(requirements)
    if marker.exists() and marker.read_text() == wanted and python_of(venv).exists():
        return python_of(venv), None
    log(f"building the {name} venv at {venv}: pip install {' '.join(requirements)}")
    start = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python_of(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *requirements], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(
            f"pip could not build the {name} venv ({' '.join(requirements)}):\n"
            f"{result.stderr[-3000:]}\nFix the requirement in benchmarks/_venvs.py VENVS or the "
            f"pip configuration (see pip's message above), then run again; {venv} is rebuilt."
        )
    marker.write_text(wanted)  # written last: an interrupted build is rebuilt next time
    return python_of(venv), time.perf_counter() - start


def versions(python: Path, name: str) -> dict:
    """Installed versions of the recorded distributions of venv ``name``."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(python), "-c", code, *RECORDED[name]], capture_output=True, text=True, check=True
    )
    return {"python": _python_version(python), **json.loads(out.stdout)}


def _python_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()
