"""neural-tangents' own tests, run through jaxntk's compatibility layer (``make test-nt-own``).

neural-tangents 0.6.5's wheel installs its test suite as the top-level package ``tests`` (next to
``neural_tangents`` in site-packages). This runs the empirical and stax tests from there, in the
environment at hand, with ``jaxntk.ntk.import_neural_tangents()`` applied before they import
neural-tangents, at more sampled cases than neural-tangents' CI (its ``NT_NUM_GENERATED_CASES``
defaults to 4): ``StructuredDerivativesTest`` (implementation 3) at ``--structured-cases`` (40),
the rest at ``--cases`` (8). Each group runs in a fresh interpreter (the flag is read when its
test module is imported); one line of counts per group and the total follow.

Nothing in site-packages is edited. The one change to neural-tangents' test code: where JAX no
longer has ``jax.tree_map`` (removed in jax 0.6), its test modules are compiled with
``jax.tree_util.tree_map`` in its place (an import hook for the ``tests`` package only; the
library itself runs exactly as the layer leaves it). pytest runs with ``--assert=plain`` so that
its assertion rewriter does not load the test modules past that hook (neural-tangents' tests
assert through absltest's methods).

Usage::

    python tools/nt_own_tests.py [--cases N] [--structured-cases N] [--only GROUP]
                                 [-- extra pytest arguments]

Exit status 0 where every group passed (skips are neural-tangents' own: its tests skip cases
they do not support, e.g. some on CPU), 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (name, test files relative to the installed ``tests`` package, pytest -k / node selection,
# which --cases option sets its NT_NUM_GENERATED_CASES)
GROUPS = {
    "structured": (["empirical_test.py::StructuredDerivativesTest"], "structured_cases"),
    "empirical": (["empirical_test.py"], "cases"),
    "stax": (["stax/stax_test.py"], "cases"),
}
DESELECT = {"empirical": ["-k", "not StructuredDerivativesTest"]}

# neural-tangents' test code against names JAX has removed: (old text, new text).
TEST_CODE_FIXES = [
    ("from jax import tree_map", "from jax.tree_util import tree_map"),
    ("jax.tree_map(", "jax.tree_util.tree_map("),
]


def nt_tests_dir() -> Path:
    """The ``tests`` package that neural-tangents' wheel installs beside ``neural_tangents``."""
    spec = importlib.util.find_spec("neural_tangents")
    if spec is None or spec.origin is None:
        raise SystemExit("neural-tangents is not installed here (make venv installs it)")
    tests = Path(spec.origin).parent.parent / "tests"
    if not (tests / "empirical_test.py").is_file():
        raise SystemExit(f"neural-tangents' tests are not installed at {tests}")
    return tests


class _FixedSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module of neural-tangents' tests with ``TEST_CODE_FIXES`` applied (never from
    a cached .pyc, which would hold the unfixed code)."""

    fixes: list[tuple[str, str]] = []
    applied: dict[str, int] = {}

    def get_code(self, fullname):
        source = self.get_source(fullname)
        for old, new in self.fixes:
            count = source.count(old)
            if count:
                source = source.replace(old, new)
                self.applied[f"{fullname}: {old}"] = count
        return compile(source, self.path, "exec", dont_inherit=True)


class _NtTestsFinder(importlib.abc.MetaPathFinder):
    """``tests`` and ``tests.*`` from neural-tangents' installed tests, through the loader."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tests" and not fullname.startswith("tests."):
            return None
        parts = fullname.split(".")[1:]
        base = self.root.joinpath(*parts)
        if (base / "__init__.py").is_file():
            file, search = base / "__init__.py", [str(base)]
        elif base.with_suffix(".py").is_file():
            file, search = base.with_suffix(".py"), None
        else:
            return None
        loader = _FixedSourceLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(
            fullname, file, loader=loader, submodule_search_locations=search
        )


def _child(group: str, pytest_args: list[str], summary_path: str) -> int:
    """One group in this interpreter: the layer, the import hook, then pytest."""
    sys.path.insert(0, str(REPO))
    import jax
    import pytest

    import jaxntk
    from jaxntk import ntk

    if Path(jaxntk.__file__).resolve().parent != REPO / "jaxntk":
        raise SystemExit(f"imported jaxntk from {jaxntk.__file__}, not from {REPO}")
    ntk.import_neural_tangents()  # the layer, before any test module imports neural_tangents

    root = nt_tests_dir()
    _FixedSourceLoader.fixes = [] if hasattr(jax, "tree_map") else TEST_CODE_FIXES
    sys.meta_path.insert(0, _NtTestsFinder(root))
    sys.dont_write_bytecode = True

    counts: dict[str, int] = {}
    failed: list[str] = []

    class Count:
        def pytest_runtest_logreport(self, report):
            if report.when == "call" or report.outcome != "passed":
                if report.when != "call" and report.outcome == "failed":
                    outcome = "error"
                else:
                    outcome = report.outcome
                counts[outcome] = counts.get(outcome, 0) + 1
                if report.outcome == "failed":
                    failed.append(report.nodeid)

    files, _ = GROUPS[group]
    args = [str(root / f) for f in files] + DESELECT.get(group, []) + [
        "-q", "-p", "no:cacheprovider", "-p", "no:warnings", "--assert=plain",
        "-c", os.devnull, "--rootdir", str(root.parent), "--confcutdir", str(root),
        *pytest_args,
    ]  # fmt: skip
    start = time.perf_counter()
    status = pytest.main(args, plugins=[Count()])
    summary = {
        "counts": counts,
        "failed": failed,
        "seconds": time.perf_counter() - start,
        "fixes": _FixedSourceLoader.applied,
        "status": int(status),
        "jax": jax.__version__,
    }
    Path(summary_path).write_text(json.dumps(summary))
    return int(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=8, help="NT_NUM_GENERATED_CASES (8)")
    parser.add_argument(
        "--structured-cases", type=int, default=40, help="the same for StructuredDerivativesTest"
    )
    parser.add_argument("--only", choices=sorted(GROUPS), action="append", help="one group")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.pytest_args, args.summary)
    for name in ("cases", "structured_cases"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    nt_tests_dir()  # fail early, in one line, where neural-tangents or its tests are missing
    total, status, start = {}, 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for group in args.only or list(GROUPS):
            cases = getattr(args, GROUPS[group][1])
            summary_path = os.path.join(tmp, f"{group}.json")
            env = {**os.environ, "NT_NUM_GENERATED_CASES": str(cases)}
            command = [sys.executable, __file__, "--child", group, "--summary", summary_path]
            print(f"== {group} (NT_NUM_GENERATED_CASES={cases})", flush=True)
            code = subprocess.run([*command, "--", *args.pytest_args], env=env).returncode
            if not os.path.exists(summary_path):
                print(f"== {group}: the run ended without a summary (exit {code})")
                status = 1
                continue
            summary = json.loads(Path(summary_path).read_text())
            status = status or int(summary["status"] != 0)
            for outcome, count in summary["counts"].items():
                total[outcome] = total.get(outcome, 0) + count
            counts = ", ".join(f"{n} {o}" for o, n in sorted(summary["counts"].items()))
            print(
                f"== {group}: {counts or 'nothing ran'} in {summary['seconds']:.0f} s "
                f"(jax {summary['jax']}; test-code fixes: {summary['fixes'] or 'none'})"
            )
            for nodeid in summary["failed"]:
                print(f"   FAILED {nodeid}")
    counts = ", ".join(f"{n} {o}" for o, n in sorted(total.items()))
    print(f"== total: {counts} in {time.perf_counter() - start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
