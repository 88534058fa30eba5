"""Shared command line of the experiment scripts: presets, overrides, outputs.

``python -m experiments.<name> --preset quick --outdir DIR --seed N [--field value ...]``: every
field of the script's frozen ``Config`` dataclass is a flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np


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


def save(outdir: Path, cfg, results: dict, figure) -> list[Path]:
    """Write config.json, results.npz, figure.png and figure.pdf into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / name for name in ("config.json", "results.npz", "figure.png", "figure.pdf")]
    paths[0].write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    np.savez(paths[1], **{k: np.asarray(v) for k, v in results.items()})
    figure.savefig(paths[2], dpi=150, bbox_inches="tight")
    figure.savefig(paths[3], bbox_inches="tight")
    return paths
