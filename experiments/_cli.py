"""Shared command line and outputs of the experiment scripts.

``python -m experiments.<name> --preset quick|paper|smoke --outdir DIR --seed N [--field value]``:
every scalar field of the script's frozen ``Config`` dataclass is a flag. Every script writes
``config.json``, ``results.npz``, ``figure.png``, ``figure.pdf`` and ``claims.json`` (the rows it
contributes to the report's claims table, see ``experiments.reproduce``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

OUTPUT_FILES = ("config.json", "results.npz", "figure.png", "figure.pdf", "claims.json")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of the report's claims table.

    Attributes:
      paper: which paper the claim is from ("masked", "asymmetric" or "beyond").
      claim: the statement being tested, in words.
      measured: the number that tests it, in words with its value (e.g. "ratio 8.1").
      value: that number.
      holds: whether the measurement supports the claim, by the criterion in ``criterion``.
      criterion: the rule that decides ``holds`` (e.g. "ratio > 2").
    """

    paper: str
    claim: str
    measured: str
    value: float
    holds: bool
    criterion: str

    def __post_init__(self):
        # NumPy scalars in, plain Python out: claims go to JSON and into the report's table.
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "holds", bool(self.holds))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Script:
    """What ``run_script`` needs from an experiment module (its public functions)."""

    name: str
    presets: dict
    run: Callable
    plot: Callable
    claims: Callable | None = None
    doc: str | None = None
    summary: Callable | None = None  # results, cfg -> str printed after the run


def parse(argv, name: str, presets: dict, doc: str | None = None):
    """(config, outdir) from the command line; ``presets`` maps names to Config instances."""
    default = presets["quick"]
    parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=doc)
    parser.add_argument("--preset", choices=sorted(presets), default="quick")
    parser.add_argument("--outdir", type=Path, default=Path("results") / name)
    for field in dataclasses.fields(default):
        kind = type(getattr(default, field.name))
        if kind is bool:
            parser.add_argument(f"--{field.name}", type=lambda s: s.lower() in ("1", "true", "yes"))
        elif kind in (int, float, str):
            parser.add_argument(f"--{field.name}", type=kind)
    args = parser.parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(default)
        if getattr(args, f.name, None) is not None
    }
    return dataclasses.replace(presets[args.preset], **overrides), args.outdir


def save(outdir: Path, cfg, results: dict, figure, claims=()) -> list[Path]:
    """Write config.json, results.npz, figure.png, figure.pdf and claims.json into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / name for name in OUTPUT_FILES]
    paths[0].write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    np.savez(paths[1], **{k: np.asarray(v) for k, v in results.items()})
    figure.savefig(paths[2], dpi=150, bbox_inches="tight")
    figure.savefig(paths[3], bbox_inches="tight")
    paths[4].write_text(json.dumps([c.to_json() for c in claims], indent=2) + "\n")
    return paths


def execute(script: Script, cfg, outdir: Path, *, verbose: bool = True) -> dict:
    """Run, plot, save; returns {"results", "claims", "paths", "seconds"} (used by the report)."""
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    results = script.run(cfg)
    seconds = time.perf_counter() - start
    claims = list(script.claims(results, cfg)) if script.claims else []
    figure = script.plot(results, cfg)
    paths = save(outdir, cfg, results, figure, claims)
    plt.close(figure)
    if verbose:
        if script.summary is not None:
            print(script.summary(results, cfg))
        for c in claims:
            print(f"[{'holds' if c.holds else 'FAILS'}] {c.claim}: {c.measured} ({c.criterion})")
        print(f"{script.name}: {seconds:.1f} s; wrote", ", ".join(str(p) for p in paths))
    return {"results": results, "claims": claims, "paths": paths, "seconds": seconds}


def main(script: Script, argv=None) -> int:
    """The ``main(argv)`` of an experiment module."""
    cfg, outdir = parse(argv, script.name, script.presets, script.doc)
    execute(script, cfg, outdir)
    return 0


def seed_keys(cfg, num_seeds: int | None = None):
    """(data key, one key per repetition) from ``cfg.seed``: repetitions are a vmap over these."""
    import jax

    key_data, key_runs = jax.random.split(jax.random.key(cfg.seed))
    return key_data, jax.random.split(key_runs, num_seeds or cfg.num_seeds)


def windowed_mean(curve, window: int, axis: int = -1):
    """Mean of the last ``window`` entries along ``axis``: the documented "converged error".

    The official stopping rules differ between the figure scripts (a fixed iteration count in
    one, an improvement threshold in another), so every masked experiment reports the mean of
    the last ``window`` rounds of a fixed number of rounds instead.
    """
    curve = np.asarray(curve)
    window = max(1, min(window, curve.shape[axis]))
    return np.take(curve, np.arange(-window, 0), axis=axis).mean(axis=axis)
