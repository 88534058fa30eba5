r"""How a sweep is laid out over devices: the two mesh axes, by name.

A sweep is runs (seeds x cells, or configurations x seeds) of rounds of surrogates. Runs are
independent: split over devices they need no collective at all. A round's surrogates are
averaged back: split over devices they cost one all-reduce per round. A ``jax.sharding.Mesh``
says which is split where by its axis names:

``"runs"``        the runs of ``sweep_masked`` and ``sweep_gd`` (padded to a multiple of its size
                  with copies of the last run, the copies dropped from the results);
``"surrogates"``  the surrogates of every round (``train_masked`` and ``sweep_masked``; K a
                  multiple of its size).

Either or both (a 2-D mesh, runs x surrogates). A one-axis mesh with any other name keeps its
older meaning: the surrogates. ``make("runs=2,surrogates=2")`` builds a mesh from the command
line's ``--mesh``; with no spec, every global device goes on ``"runs"``.
"""

from __future__ import annotations

import math

import jax
import numpy as np

RUNS = "runs"
SURROGATES = "surrogates"
AXES = (RUNS, SURROGATES)


def runs_axis(mesh) -> str | None:
    """The axis the runs are split over (None: every device holds every run)."""
    return RUNS if mesh is not None and RUNS in mesh.axis_names else None


def surrogates_axis(mesh) -> str | None:
    """The axis a round's surrogates are split over: ``"surrogates"``, else the only axis of a
    mesh without a ``"runs"`` axis (the meaning a one-axis mesh always had), else None."""
    if mesh is None:
        return None
    if SURROGATES in mesh.axis_names:
        return SURROGATES
    return None if RUNS in mesh.axis_names else mesh.axis_names[0]


def size(mesh, axis: str | None) -> int:
    """Devices along ``axis`` (1 for no axis)."""
    return 1 if axis is None else int(mesh.shape[axis])


def parse(spec: str) -> dict[str, int]:
    """``"runs=R,surrogates=S"`` (either part may be left out) as {axis: size}."""
    sizes = {}
    for item in str(spec).split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in AXES or name in sizes or not value.strip().isdigit():
            raise ValueError(
                f"--mesh {spec!r}: write it as runs=R,surrogates=S (axes {', '.join(AXES)}, each "
                "once, sizes whole numbers >= 1), e.g. --mesh runs=4 or --mesh runs=2,surrogates=2"
            )
        sizes[name] = int(value)
        if sizes[name] < 1:
            raise ValueError(f"--mesh {spec!r}: the size of {name!r} must be >= 1")
    return sizes


def make(spec: str | None = None, devices=None):
    """A ``Mesh`` over ``devices`` (default: every global device) laid out as ``spec``.

    With no spec: every device on ``"runs"``, or None on a single device (nothing to split:
    the programs stay exactly the single-device ones).
    """
    devices = list(jax.devices() if devices is None else devices)
    if spec is None:
        return None if len(devices) == 1 else jax.sharding.Mesh(np.array(devices), (RUNS,))
    sizes = parse(spec)
    if math.prod(sizes.values()) != len(devices):
        raise ValueError(
            f"--mesh {spec}: {' x '.join(map(str, sizes.values()))} = "
            f"{math.prod(sizes.values())} devices, but there are {len(devices)} (every process's "
            "devices together); make the sizes multiply to that"
        )
    shape = tuple(sizes.values())
    return jax.sharding.Mesh(np.array(devices).reshape(shape), tuple(sizes))
