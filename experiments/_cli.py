"""Shared command line and outputs of the experiment scripts.

``python -m experiments.<name> --preset quick|paper|smoke --outdir DIR --seed N [--field value]``:
every field of the script's frozen ``Config`` dataclass is a flag, spelled as the field
(``--num_rounds 40``) or with dashes (``--num-rounds 40``), on top of ``--preset``. Values:

* numbers and strings as written; booleans ``true``/``false`` (also ``1``/``0``, ``yes``/``no``;
  anything else is refused); in an untyped item (``--data_options standardize:no``) the words
  ``true``/``false``/``yes``/``no`` are booleans, never strings;
* tuples as one argument, items separated by commas: ``--keep_probs 0.3,0.5,0.7``,
  ``--widths 250,500``; a tuple of pairs separates the two parts of an item by a colon:
  ``--gammas 1:0,0.5:0.7`` ((gamma, alpha) pairs), ``--data_options n:500``; ``--ks ""`` is the
  empty tuple. Items take the type the field declares (``tuple[float, ...]``); a value that does
  not fit is refused with the expected form before anything runs.

Every script writes
``config.json``, ``results.npz``, ``figure.png``, ``figure.pdf`` and ``claims.json`` (the rows it
contributes to the report's claims table, see ``experiments.reproduce``). A script whose ``plot``
returns several figures (``{part: Figure}``, e.g. one per data set) writes the first as
``figure.png`` / ``.pdf`` and each other one as ``figure-<part>.png`` / ``.pdf``.
Beside them, ``timing.json`` records how long the run took (kept when a finished result is
re-plotted with ``--resume``).

Reliability: every file is written atomically; a folder holding all five is a finished result,
which a run refuses to replace without ``--overwrite``. While it runs, an experiment saves each
finished stage (``Stages``) to ``OUTDIR/checkpoint/``; after a crash or a kill ``--resume``
continues from them to bitwise the same ``results.npz``. The checkpoints are removed once the
outputs are written. A run that makes no progress for ``--stall-timeout`` seconds (no stage or
chunk finished, no CPU used; ``jaxntk.watchdog``) dumps every thread's stack and exits with
status 3, naming the command that continues it.

Several processes: the same command on every process with ``--coordinator HOST:PORT
--num_processes N --process_id I`` (or none of them under SLURM / Open MPI) runs as one program
over every process's devices (``jaxntk.distributed``): the sweeps split their runs (and with
``--mesh runs=R,surrogates=S`` their surrogates) over the devices (``jaxntk.layout``), every
process checks that the others run the same configuration on the same input files, and process
0 alone holds the outdir and writes every file.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

import jaxntk
from jaxntk import checkpoint, distributed, layout, watchdog

from . import _outdir

OUTPUT_FILES = ("config.json", "results.npz", "figure.png", "figure.pdf", "claims.json")
# Beside the outputs: how long computing them took, so a result re-plotted with --resume (e.g. a
# paper-scale run published later) still reports the run time it was computed in.
TIMING_FILE = "timing.json"
# Beside them too, for a configuration that names input files (``_outdir.input_file``): their
# SHA-256 when the result was computed, so re-plotting it after a file changed is refused.
INPUTS_FILE = "inputs.json"
# ``features: str = _cli.input_file()``: a Config field naming a file the run reads (its content
# is part of every checkpoint's fingerprint; ``experiments._outdir``).
input_file = _outdir.input_file


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
      official: the same quantity on the official figure (its digitized curve,
        ``experiments._official_curves``), or None where the official figure shows none; the
        report prints it beside ``value`` with the ratio ``value / official``.
    """

    paper: str
    claim: str
    measured: str
    value: float
    holds: bool
    criterion: str
    official: float | None = None

    def __post_init__(self):
        # NumPy scalars in, plain Python out: claims go to JSON and into the report's table.
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "holds", bool(self.holds))
        if self.official is not None:
            object.__setattr__(self, "official", float(self.official))

    @property
    def ratio(self) -> float | None:
        """ours / official figure's value (None without an official value)."""
        if self.official is None or self.official == 0:
            return None
        return self.value / self.official

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Script:
    """What ``run_script`` needs from an experiment module (its public functions)."""

    name: str
    presets: dict
    run: Callable  # run(cfg, stages=IN_MEMORY) -> dict of arrays
    plot: Callable
    claims: Callable | None = None
    doc: str | None = None
    summary: Callable | None = None  # results, cfg -> str printed after the run


class Options(NamedTuple):
    """What the command line asked for."""

    cfg: object
    outdir: Path
    resume: bool = False
    overwrite: bool = False
    checkpoint_every: int | None = None
    preset: str = "quick"
    stall_timeout: float = watchdog.DEFAULT_TIMEOUT  # seconds, 0 off (``watchdog.timeout``)
    processes: tuple = (None, None, None)  # --coordinator, --num_processes, --process_id
    mesh: str | None = None  # --mesh runs=R,surrogates=S (``jaxntk.layout.make``)


# ``Config.protocol`` of every figure script: "official" runs what the official code ran
# (parameterization, loss, learning rate, aggregation, stopping rule, preprocessing, split rows,
# data set, repetitions); "theory" runs the paper's own conventions. The default of a script that
# reproduces an official figure is "official".
PROTOCOLS = ("official", "theory")


def check_protocol(cfg, allowed=PROTOCOLS) -> str:
    """``cfg.protocol``, refused with a fix when it is not one of ``allowed``."""
    if cfg.protocol not in allowed:
        raise ValueError(
            f"protocol={cfg.protocol!r} is not available here; pass --protocol "
            + " or --protocol ".join(allowed)
        )
    return cfg.protocol


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2): the message, then where the
    forms are (--help), without argparse's usage block before it."""

    def error(self, message):
        refuse(self.prog, f"{message} (see --help)")


def parser_for(name: str, presets: dict, doc: str | None = None) -> argparse.ArgumentParser:
    default = presets["quick"]
    parser = OneLineParser(prog=f"python -m experiments.{name}", description=doc)
    parser.add_argument("--preset", choices=sorted(presets), default="quick")
    parser.add_argument("--outdir", type=Path, default=Path("results") / name)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from the checkpoints in OUTDIR/checkpoint (or re-plot "
        "a finished one from its results.npz)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a finished result in --outdir"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="also checkpoint every N GD steps inside a stage (the asymmetric-scaling scripts; a "
        "multiple of log_every); every script checkpoints after each stage regardless",
    )
    add_stall_timeout(parser)
    add_processes(parser)
    fields = parser.add_argument_group(
        "Config fields (default: the preset's value)",
        "tuples are one argument with comma-separated items, pairs with a colon inside an item: "
        "--keep_probs 0.3,0.5,0.7, --gammas 1:0,0.5:0.7",
    )
    for field in dataclasses.fields(default):
        kind = field_kind(presets, field.name)
        flags = [f"--{field.name}"]
        if "_" in field.name:
            flags.append("--" + field.name.replace("_", "-"))
        fields.add_argument(
            *flags,
            dest=field.name,
            type=_parser_of(field.name, kind, _show(getattr(default, field.name))),
            metavar=_metavar(kind),
            help=f"(quick: {_show(getattr(default, field.name))})",
        )
    return parser


def add_stall_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a run that makes no progress (no stage or chunk finished, no CPU used) for "
        f"this long: dump every thread's stack, print the resume command, exit "
        f"{watchdog.EXIT_CODE}. 0 is off (default: ${watchdog.TIMEOUT_ENV}, else "
        f"{watchdog.DEFAULT_TIMEOUT:g})",
    )


def add_processes(parser: argparse.ArgumentParser) -> None:
    """The flags of a multi-process run (``start_processes``)."""
    group = parser.add_argument_group(
        "Several processes (jax.distributed: the same command on every process; none of "
        "--coordinator, --num_processes, --process_id under SLURM / Open MPI)"
    )
    group.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    group.add_argument("--num_processes", "--num-processes", type=int, metavar="N")
    group.add_argument("--process_id", "--process-id", type=int, metavar="I")
    group.add_argument(
        "--mesh",
        metavar="runs=R,surrogates=S",
        help="how the sweeps' runs and a round's surrogates are split over every process's "
        "devices (default: every device on runs)",
    )


def start_processes(processes, mesh_spec):
    """Join the other processes (``jaxntk.distributed.initialize``) and build the mesh of
    ``--mesh`` (``jaxntk.layout.make``); before any computation. Returns the mesh (None on one
    device)."""
    distributed.initialize(*processes)
    return layout.make(mesh_spec)


# The mesh the sweeps of the run in progress split over (``execute`` sets it; a notebook's
# ``run(cfg)`` has none): read by the experiments' sweep helpers (``mesh()``).
_MESH = contextvars.ContextVar("mesh", default=None)


def mesh():
    """The mesh of the command-line run in progress, or None."""
    return _MESH.get()


# Field kinds for the command line: int, float, str, bool, or ("tuple", item kind) where an
# item kind is a scalar kind or ("pair", kind, kind); None parses an atom as int, float or str.
_SCALARS = (bool, int, float, str)


def field_kind(presets: dict, name: str):
    """The command-line kind of Config field ``name`` (what ``--name`` parses as)."""
    default = presets["quick"]
    values = [getattr(cfg, name) for cfg in presets.values()]
    return _field_kind(typing.get_type_hints(type(default)).get(name, type(values[0])), values)


def field_value(presets: dict, name: str, text: str):
    """``text`` parsed as Config field ``name`` parses on the command line (ValueError if not)."""
    kind = field_kind(presets, name)
    try:
        return _parser_of(name, kind)(text)
    except argparse.ArgumentTypeError as err:
        raise ValueError(str(err)) from None
    except ValueError:  # int("x"), float("x"): name the field and the form
        raise ValueError(
            f"{text!r} does not fit {name}: write a {_metavar(kind)}, like {name}={_example(kind)}"
        ) from None


def _field_kind(hint, values):
    """The command-line kind of a Config field from its annotation (``tuple[float, ...]``), or,
    for a bare ``tuple``, from the presets' values."""
    if hint in _SCALARS:
        return hint
    if hint is tuple or typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args:
            return ("tuple", _item_kind(args[0]))
        items = [item for value in values for item in value]
        return ("tuple", _item_kind_of(items))
    return type(values[0]) if type(values[0]) in _SCALARS else str


def _item_kind(hint):
    if typing.get_origin(hint) is tuple:
        first, second = typing.get_args(hint)
        return ("pair", _item_kind(first), _item_kind(second))
    return hint if hint in _SCALARS else None


def _item_kind_of(items):
    if not items:
        return None
    if all(isinstance(i, tuple) and len(i) == 2 for i in items):
        return ("pair", _item_kind_of([i[0] for i in items]), _item_kind_of([i[1] for i in items]))
    if all(isinstance(i, bool) for i in items):
        return bool
    if all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        return int
    if all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in items):
        return float
    return None


_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")
_WORDS = {"true": True, "yes": True, "false": False, "no": False}


def _atom(text: str, kind):
    text = text.strip()
    if kind is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{text!r} is not true or false")
    if kind in (int, str):
        return kind(text)
    if kind is float:
        return _finite(float(text), text)
    for guess in (int, float):  # an undeclared item: the first type that reads it
        try:
            value = guess(text)
        except ValueError:
            continue
        return _finite(value, text)  # outside the try: "nan" is refused, not kept as text
    # ... or a boolean spelled as one: kept a string, "no" would reach the option (e.g.
    # data_options standardize:no) as a truthy value. 1/0 stay numbers, which bool options take.
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    return text


def _finite(value, text: str):
    # "nan", "inf" and "1e400" read as floats, but no Config field means them: a NaN lr or
    # keep_prob would reach the run (or train to NaN) instead of being refused here.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    return value


def _example(kind) -> str:
    if isinstance(kind, tuple) and kind[0] == "tuple":
        item = _example(kind[1])
        return f"{item},{item}"
    if isinstance(kind, tuple):  # a pair
        return f"{_example(kind[1])}:{_example(kind[2])}"
    return {bool: "true", int: "4", float: "0.5", str: "text"}.get(kind, "value")


def _metavar(kind) -> str:
    if isinstance(kind, tuple) and kind[0] == "tuple":
        return _metavar(kind[1]) + ",..."
    if isinstance(kind, tuple):  # a pair
        return f"{_metavar(kind[1])}:{_metavar(kind[2])}"
    return {bool: "true|false", int: "INT", float: "FLOAT", str: "TEXT"}.get(kind, "VALUE")


def _show(value) -> str:
    """A value as the command line writes it (the --help text's defaults)."""
    if isinstance(value, tuple):
        return ",".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    return str(value)


def _parser_of(name: str, kind, example: str = ""):
    """argparse ``type=`` for a field of ``kind``: a clear error naming the expected form (the
    quick preset's value ``example`` where it has one)."""
    if kind in (int, str):
        return kind  # argparse's own message: "invalid int value: 'wide'"
    example = example or _example(kind)

    def parse_value(text: str):
        try:
            if not (isinstance(kind, tuple) and kind[0] == "tuple"):
                return _atom(text, kind)
            items = [i for i in text.split(",") if i.strip()]
            if kind[1] is None or not isinstance(kind[1], tuple):
                return tuple(_atom(i, kind[1]) for i in items)
            out = []
            for item in items:
                parts = item.split(":")
                if len(parts) != 2:
                    raise ValueError(f"item {item!r} is not two values joined by ':'")
                out.append((_atom(parts[0], kind[1][1]), _atom(parts[1], kind[1][2])))
            return tuple(out)
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"{text!r} does not fit {name}: {err}; write it like --{name} {example}"
            ) from None

    parse_value.__name__ = name  # argparse names the type in its own messages
    return parse_value


def parse(argv, name: str, presets: dict, doc: str | None = None) -> Options:
    """``Options`` from the command line; ``presets`` maps names to Config instances.

    Checks ``--outdir`` before anything is computed (``check_outdir``).
    """
    parser = parser_for(name, presets, doc)
    args = parser.parse_args(argv)
    default = presets["quick"]
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(default)
        if getattr(args, f.name, None) is not None
    }
    cfg = dataclasses.replace(presets[args.preset], **overrides)
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        parser.error(
            f"--checkpoint-every must be a number of steps >= 1, got {args.checkpoint_every}"
        )
    try:
        stall_timeout = watchdog.timeout(args.stall_timeout)
        check_outdir(args.outdir, resume=args.resume, overwrite=args.overwrite)
    except ValueError as err:
        refuse(parser.prog, str(err))
    return Options(
        cfg, args.outdir, args.resume, args.overwrite, args.checkpoint_every, args.preset,
        stall_timeout, (args.coordinator, args.num_processes, args.process_id), args.mesh,
    )  # fmt: skip


def resume_command(script: Script, options: Options) -> str:
    """The command line that continues the run ``options`` describes: its preset, every field
    that differs from the preset, its --checkpoint-every and --stall-timeout, then ``--resume
    --outdir DIR`` (or, for an ``--overwrite`` run that has saved no stage yet over a finished
    result, which ``--resume`` would re-plot, the same ``--overwrite``)."""
    args = ["--preset", options.preset]
    preset = script.presets[options.preset]
    for field in dataclasses.fields(options.cfg):
        value = getattr(options.cfg, field.name)
        if value != getattr(preset, field.name):
            args += [f"--{field.name}", _show(value)]
    if options.checkpoint_every is not None:
        args += ["--checkpoint-every", str(options.checkpoint_every)]
    if options.stall_timeout != watchdog.DEFAULT_TIMEOUT:
        args += ["--stall-timeout", f"{options.stall_timeout:g}"]
    outdir = Path(options.outdir)
    restart = options.overwrite and finished(outdir) and not (outdir / CHECKPOINT_DIR).exists()
    args += ["--overwrite" if restart else "--resume", "--outdir", str(outdir)]
    return f"python -m experiments.{script.name} {shlex.join(args)}"


def finished(outdir: Path) -> bool:
    """Whether ``outdir`` holds a finished result: every output file (each written atomically,
    claims.json last)."""
    return all((Path(outdir) / name).is_file() for name in OUTPUT_FILES)


def check_outdir(outdir: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a finished or interrupted run unless told to, or a folder another run
    holds (``experiments._outdir``); check it is writable.

    Creates nothing: a folder that does not exist yet is checked through its nearest existing
    parent.
    """
    outdir = Path(outdir)
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other; pass one of them")
    check_folder(outdir, "--outdir")
    pid = _outdir.holder(outdir)
    if pid is not None:
        raise _outdir.FolderBusy(_outdir.busy_message(outdir, pid))
    if not (resume or overwrite):
        if finished(outdir):
            raise ValueError(
                f"--outdir {outdir} already holds a finished result ({', '.join(OUTPUT_FILES)}); "
                "left untouched. Pass --overwrite to replace it, --resume to re-plot it, or "
                "choose another --outdir"
            )
        if (outdir / CHECKPOINT_DIR).exists():
            raise ValueError(
                f"--outdir {outdir} holds the checkpoints of an unfinished run "
                f"({CHECKPOINT_DIR}/); pass --resume to continue it or --overwrite to start again"
            )


def check_folder(folder: Path, flag: str) -> None:
    """Refuse an output folder (``flag``: its option) that is a file or cannot be written.
    Creates nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder} is a file, not a folder; pass a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {folder} cannot be created: {existing} is a file; pass a writable folder"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(
            f"{flag} {folder} is not writable ({type(err).__name__}: {err.strerror or err}); "
            "pass a folder you can write to"
        ) from None


def refuse(prog: str, message: str, status: int = 2):
    """Exit with ``prog: error: message`` on one line of stderr (no usage, no traceback).

    The raised ``SystemExit`` carries the line as its text (``str(err)``) and ``status`` as its
    exit code.
    """
    line = f"{prog}: error: {message}"
    print(line, file=sys.stderr)
    err = SystemExit(line)
    err.code = status
    raise err


def figure_parts(figure) -> dict:
    """``plot``'s figure(s) as ``{part: Figure}``: one figure is ``{"": figure}``."""
    parts = figure if isinstance(figure, dict) else {"": figure}
    if not parts:
        raise ValueError("plot returned no figure")
    return parts


def figure_names(parts) -> list[str]:
    """The PNG file name of each part: ``figure.png`` first, then ``figure-<part>.png``."""
    return ["figure.png" if i == 0 else f"figure-{part}.png" for i, part in enumerate(parts)]


def save(outdir: Path, cfg, results: dict, figure, claims=(), inputs=None) -> list[Path]:
    """Write config.json, results.npz, figure.png, figure.pdf and claims.json into ``outdir``
    (and ``figure-<part>.png`` / ``.pdf`` for every further part of a ``{part: Figure}``; and
    ``inputs.json``, the SHA-256 of each input file, when ``inputs`` names any).

    The files are written as one group (``jaxntk.checkpoint.atomic_files``): each in full to a
    temporary file first, then all renamed, claims.json last and removed before the others are
    renamed, so a folder with all five holds a finished result and a write that fails (a full
    disk) leaves the previous outputs as they were. ``results.npz`` is byte-reproducible.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    config, npz, _, _, claims_path = (outdir / name for name in OUTPUT_FILES)
    paths = []
    with checkpoint.atomic_files(last_marks_complete=True) as files:

        def write(path: Path, data: bytes):
            files.path(path).write_bytes(data)
            paths.append(path)

        write(config, (json.dumps(dataclasses.asdict(cfg), indent=2) + "\n").encode())
        write(npz, checkpoint.npz_bytes({k: np.asarray(v) for k, v in results.items()}))
        parts = figure_parts(figure)
        for fig, name in zip(parts.values(), figure_names(parts)):
            png = outdir / name
            for path, kind in ((png, "png"), (png.with_suffix(".pdf"), "pdf")):
                dpi = {"dpi": 150} if kind == "png" else {}
                fig.savefig(files.path(path), format=kind, bbox_inches="tight", **dpi)
                paths.append(path)
        if inputs:
            write(outdir / INPUTS_FILE, (json.dumps(inputs, indent=2) + "\n").encode())
        write(claims_path, (json.dumps([c.to_json() for c in claims], indent=2) + "\n").encode())
    return paths


# ------------------------------------------------------------------------- stage checkpoints

CHECKPOINT_DIR = "checkpoint"


def _numpy_tree(value):
    if isinstance(value, dict):
        return {k: _numpy_tree(v) for k, v in value.items()}
    return np.asarray(distributed.whole(value))


class Stages:
    """Where an experiment's stages go: ``run(cfg, stages)`` calls ``stages.run(name, fn)`` for
    each stage, a Python-level unit of its work (one jitted, vmapped call: a (rule, K) row, a
    (gamma, alpha) configuration, a width).

    ``Stages()`` (no folder; ``IN_MEMORY``, every script's default) just calls ``fn``: that is
    ``run(cfg)`` from a notebook. ``execute`` passes one with a folder: a finished stage is saved
    there as ``<name>.npz``, atomically, and a resumed run reads it back instead of calling
    ``fn``. Every checkpoint carries ``fingerprint`` (script and config), so a resumed run never
    mixes in another configuration's stages (``jaxntk.CheckpointError`` names the differing field).
    With ``checkpoint_every``, a stage that supports it (the asym GD stages) also saves its
    progress every that many steps (``progress``).
    """

    def __init__(self, folder: Path | None = None, fingerprint: dict | None = None,
                 resume: bool = False, checkpoint_every: int | None = None):  # fmt: skip
        self.folder = None if folder is None else Path(folder)
        self.fingerprint, self.resume = fingerprint or {}, resume
        self.checkpoint_every = None if folder is None else checkpoint_every
        self.seen: dict[str, int] = {}
        self.current: Path | None = None  # the progress file of the stage being computed
        if self.folder is None:
            return
        if not resume:
            self.remove()
        elif self.folder.exists():  # another configuration's stages: refuse before any work
            for path in sorted(self.folder.glob("*.npz")):
                try:
                    checkpoint.load(path, self.fingerprint)
                except checkpoint.CheckpointError:
                    self._refuse_changed_input(path)
                    raise

    def _refuse_changed_input(self, path: Path) -> None:
        """Raise a CheckpointError naming the input file if ``path`` was written from other
        content of it (the fingerprint's ``inputs``)."""
        digests = self.fingerprint.get("inputs")
        if not digests:
            return
        try:
            meta = checkpoint.read_meta(path)
        except checkpoint.CheckpointError:
            return
        where = f"the checkpoints in {self.folder} were written"
        changed = _outdir.changed_input(digests, self.fingerprint["config"], meta, where)
        if changed:
            raise checkpoint.CheckpointError(changed) from None

    def path(self, name: str) -> Path:
        # A name used again in the same run (the same helper called twice) gets its occurrence
        # number: the run order is fixed, so a resumed run maps every call to the same file.
        self.seen[name] = self.seen.get(name, 0) + 1
        if self.seen[name] > 1:
            name = f"{name}-{self.seen[name]}"
        slug = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name)
        return self.folder / f"{slug}.npz"

    def run(self, name: str, fn: Callable) -> dict:
        """``fn()`` (a dict of arrays, nested dicts allowed, no None) as NumPy, checkpointed as
        the stage ``name`` when this has a folder. Names must be unique within a run."""
        if self.folder is None:
            value = _numpy_tree(fn())
            watchdog.beat(f"stage {name}")
            return value
        path = self.path(name)
        if self.resume:  # process 0 reads it; every process continues from what it read
            value = distributed.on_writer(
                lambda: checkpoint.load(path, self.fingerprint)[0] if path.exists() else None
            )
            if value is not None:
                watchdog.beat(f"stage {name} (read back)")
                return value
        outer, self.current = self.current, path.with_suffix(".progress.npz")
        try:
            value = _numpy_tree(fn())  # materialised: the stage's result is on the host
        finally:
            self.current = outer
        distributed.on_writer(lambda: self._save(path, value))
        watchdog.beat(f"stage {name}")
        return value

    def _save(self, path: Path, value: dict) -> None:
        checkpoint.save(path, value, self.fingerprint)
        path.with_suffix(".progress.npz").unlink(missing_ok=True)

    def progress(self) -> dict | None:
        """Inside a stage, with ``checkpoint_every``: the ``jaxntk.runner.run`` keywords
        (checkpoint, fingerprint, resume) that save its progress in one file; else None."""
        if self.current is None or self.checkpoint_every is None:
            return None
        return {"checkpoint": self.current, "fingerprint": self.fingerprint,
                "resume": self.resume}  # fmt: skip

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


# Every script's ``run(cfg, stages=IN_MEMORY)``: stages computed and returned, nothing written.
# Safe to share: a Stages without a folder keeps no state.
IN_MEMORY = Stages()


def fingerprint(script: Script, cfg, checkpoint_every=None, inputs=None) -> dict:
    """What a stage checkpoint must match to be resumed: the script, every Config field,
    ``checkpoint_every``, and the SHA-256 of every input file ``cfg`` names (``inputs``, else
    computed: ``_outdir.input_digests``)."""
    config = json.loads(json.dumps(dataclasses.asdict(cfg)))
    out = {"script": script.name, "config": config, "checkpoint_every": checkpoint_every}
    inputs = _outdir.input_digests(cfg) if inputs is None else inputs
    if inputs:  # absent without input files: checkpoints of earlier versions stay resumable
        out["inputs"] = inputs
    return out


class Plan(NamedTuple):
    """What ``prepare`` found: the stages to run, or a finished result to re-plot."""

    stages: Stages | None
    results: dict | None = None  # a finished result's arrays (--resume re-plots it)
    seconds: float | None = None  # its recorded run time
    inputs: dict | None = None  # the input files' digests


def _check_output_paths(outdir: Path) -> None:
    """Every path a run writes in ``outdir`` is of the kind it writes (a folder in the way of
    results.npz, a file in the way of checkpoint/ would fail after the work)."""
    for name in (*OUTPUT_FILES, TIMING_FILE, INPUTS_FILE):
        if (outdir / name).is_dir():
            raise ValueError(
                f"{outdir / name} is a folder where the run writes a file; remove it or choose "
                "another --outdir"
            )
    folder = outdir / CHECKPOINT_DIR
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"{folder} is a file where the run keeps its checkpoint folder; remove it or "
            "choose another --outdir"
        )


def _remove_stale_temporaries(outdir: Path) -> None:
    """Temporary files of atomic writes a killed run left (``.<name>.*.tmp``); safe to remove
    while this run holds the folder."""
    for folder in (outdir, outdir / CHECKPOINT_DIR):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def _reuse_results(outdir: Path, cfg, inputs: dict) -> tuple[dict, float | None]:
    """A finished result's arrays and recorded run time, after checking its config.json is
    ``cfg``'s and its input files are unchanged; every file read through one reader."""
    redo = "pass --overwrite to compute it again, or choose another --outdir"
    saved = checkpoint.read_json(outdir / "config.json", fix=redo)
    if not isinstance(saved, dict):
        raise ValueError(f"{outdir / 'config.json'} is not a Config (a JSON object); {redo}")
    now = json.loads(json.dumps(dataclasses.asdict(cfg)))
    for name in sorted(set(saved) | set(now)):
        if saved.get(name) != now.get(name):
            raise checkpoint.CheckpointError(
                f"--outdir {outdir} holds a result of a different configuration (field {name}: "
                f"{saved.get(name)!r} there vs {now.get(name)!r} now); pass --overwrite to "
                "replace it or choose another --outdir"
            )
    if inputs and (outdir / INPUTS_FILE).exists():
        recorded = checkpoint.read_json(outdir / INPUTS_FILE, fix=redo)
        meta = {"config": now, "inputs": recorded if isinstance(recorded, dict) else {}}
        changed = _outdir.changed_input(inputs, now, meta, f"the result in {outdir} was computed")
        if changed:
            raise ValueError(changed)
    results = checkpoint.read_npz(outdir / "results.npz", fix=redo)
    seconds = None
    if (outdir / TIMING_FILE).exists():
        fix = f"delete it (the re-plot then records its own time) or {redo}"
        timing = checkpoint.read_json(outdir / TIMING_FILE, fix=fix)
        seconds = timing.get("seconds") if isinstance(timing, dict) else None
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise ValueError(f"{outdir / TIMING_FILE} holds no run time in seconds; {fix}")
    return results, seconds


def prepare(script: Script, cfg, outdir: Path, *, resume=False, checkpoint_every=None) -> Plan:
    """Everything ``execute`` checks before any work, in the folder it holds: the paths it will
    write, the input files (each read once, digested), and with ``resume`` every file it will
    read back (a finished result's config.json, results.npz, timing.json, inputs.json, or the
    stage checkpoints). A ``ValueError`` naming the file and the fix if anything is wrong."""
    outdir = Path(outdir)
    _check_output_paths(outdir)
    _remove_stale_temporaries(outdir)
    inputs = _outdir.input_digests(cfg)
    if resume and finished(outdir) and not (outdir / CHECKPOINT_DIR).exists():
        results, seconds = _reuse_results(outdir, cfg, inputs)
        return Plan(None, results, seconds, inputs)
    stages = Stages(
        outdir / CHECKPOINT_DIR,
        fingerprint(script, cfg, checkpoint_every, inputs),
        resume,
        checkpoint_every,
    )
    return Plan(stages, inputs=inputs)


def execute(
    script: Script, cfg, outdir: Path, *, verbose: bool = True, resume=False, checkpoint_every=None,
    mesh=None,
) -> dict:  # fmt: skip
    """Run, plot, save; returns {"results", "claims", "paths", "seconds"} (used by the report).

    The run holds ``outdir`` for its whole length (``_outdir.hold``: another run on it is
    refused naming this one's PID) and checks everything it can before any work (``prepare``;
    such an error carries ``before_work = True``). It is checkpointed by stages in
    ``outdir/checkpoint/`` (the ``Stages`` passed to ``script.run(cfg, stages)``; the whole of
    ``script.run`` is the last stage), removed once every output is written; with
    ``checkpoint_every`` a stage that supports it also saves its progress every that many steps.
    ``resume`` reuses the finished stages (and a finished result's results.npz); without it
    they are discarded. ``mesh``: what the sweeps split over (``mesh()``).

    Over several processes (``jaxntk.distributed``) every process checks that all run the same
    configuration on the same input files, and process 0 alone holds ``outdir``, reads what is
    resumed and writes every file (``distributed.on_writer``); the others get what it read.
    """
    outdir = Path(outdir)
    start = time.perf_counter()
    with contextlib.ExitStack() as held:
        with before_work():
            distributed.check_same(
                f"experiments.{script.name}",
                config=fingerprint(script, cfg, checkpoint_every),
                resume=resume,
            )
            distributed.on_writer(lambda: held.enter_context(_outdir.hold(outdir)))
            plan = distributed.on_writer(
                lambda: prepare(script, cfg, outdir, resume=resume,
                                checkpoint_every=checkpoint_every)  # fmt: skip
            )
        stages = plan.stages
        if stages is None:
            results = plan.results
        else:
            token = _MESH.set(mesh)
            try:
                results = stages.run("results", lambda: script.run(cfg, stages))
            finally:
                _MESH.reset(token)
        computed = plan.seconds  # the run time recorded when a reused result was computed
        seconds = time.perf_counter() - start if computed is None else computed
        claims = list(script.claims(results, cfg)) if script.claims else []
        paths = distributed.on_writer(
            lambda: _write_outputs(script, cfg, outdir, results, claims, plan, seconds)
        )
    if verbose and distributed.is_writer():
        if script.summary is not None:
            print(script.summary(results, cfg))
        for c in claims:
            print(f"[{'holds' if c.holds else 'FAILS'}] {c.claim}: {c.measured} ({c.criterion})")
        print(f"{script.name}: {seconds:.1f} s; wrote", ", ".join(str(p) for p in paths))
    return {"results": results, "claims": claims, "paths": paths, "seconds": seconds}


def _write_outputs(script: Script, cfg, outdir: Path, results, claims, plan, seconds):
    """The figure and every output file (then the checkpoints go); the paths written."""
    import matplotlib.pyplot as plt

    figure = script.plot(results, cfg)
    paths = save(outdir, cfg, results, figure, claims, plan.inputs)
    for fig in figure_parts(figure).values():
        plt.close(fig)
    if plan.seconds is None:
        text = json.dumps({"seconds": seconds}) + "\n"
        checkpoint.atomic_write_text(outdir / TIMING_FILE, text)
    if plan.stages is not None:
        plan.stages.remove()
    return paths


@contextlib.contextmanager
def before_work():
    """Mark a ``ValueError`` raised in the block as found before any work (``before_work``
    attribute): the command line exits 2 on it, the report shows its line without a
    traceback."""
    try:
        yield
    except ValueError as err:
        err.before_work = True
        raise


def found_before_work(err: BaseException) -> bool:
    return getattr(err, "before_work", False)


def _ours(err: BaseException) -> bool:
    """Whether ``err`` was raised by jaxntk's or the experiments' own checks (not inside JAX)."""
    tb = err.__traceback__
    last = None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    # The library's folder from the package itself: in a checkout experiments/ sits beside
    # jaxntk/, in an installed wheel inside it (jaxntk/experiments).
    roots = (Path(__file__).resolve().parent, Path(jaxntk.__file__).resolve().parent)
    return last is not None and any(Path(last).resolve().is_relative_to(r) for r in roots)


def setup_command_line() -> None:
    """Process-wide settings of a command-line run, made at its entries (``main``,
    ``experiments.reproduce``), never when a script is imported:

    * matplotlib's non-interactive Agg backend (the command line only writes files; a notebook
      that imports a script keeps its own inline backend);
    * threefry lowered unrolled on CPU (``jaxntk._threefry_cpu``): the same random bits, 2-3x
      faster to compile on jax 0.10's CPU backend.
    """
    import matplotlib

    from jaxntk import _threefry_cpu

    matplotlib.use("Agg")
    _threefry_cpu.unroll_on_cpu()


def main(script: Script, argv=None) -> int:
    """The ``main(argv)`` of an experiment module.

    Bad input (a ``ValueError`` from jaxntk's or the script's checks, a ``DivergenceError``)
    exits with its one-line message and no traceback; the outdir is left as it was (the
    checkpoints of finished stages stay, for ``--resume``). What is found before any work (the
    folder held by another run, a corrupt file to resume from, an input file that is missing,
    unreadable or changed since the checkpoints: ``prepare``) exits 2, the rest 1; an output
    that cannot be written (``jaxntk.checkpoint.WriteError``, e.g. a full disk) exits 1. A
    stalled run exits with ``jaxntk.watchdog.EXIT_CODE`` (``--stall-timeout``).
    """
    setup_command_line()
    options = parse(argv, script.name, script.presets, script.doc)
    prog = f"python -m experiments.{script.name}"
    try:
        mesh = start_processes(options.processes, options.mesh)
    except ValueError as err:
        refuse(prog, str(err))
    try:
        with watchdog.watch(
            options.stall_timeout,
            outdir=options.outdir,
            command=lambda: resume_command(script, options),
        ), contextlib.ExitStack() as held:
            with before_work():

                def hold():
                    held.enter_context(_outdir.hold(options.outdir))
                    # again, now that no other run can change it (parse checked it unheld)
                    check_outdir(
                        options.outdir, resume=options.resume, overwrite=options.overwrite
                    )

                distributed.on_writer(hold)
            execute(
                script,
                options.cfg,
                options.outdir,
                resume=options.resume,
                checkpoint_every=options.checkpoint_every,
                mesh=mesh,
            )
    except (ValueError, FloatingPointError) as err:
        if not _ours(err):
            raise
        message = str(err)
        if isinstance(err, checkpoint.CheckpointError) and "--overwrite" not in message:
            # the library speaks of resume=False
            message += "; from the command line: --overwrite starts again, or choose a new --outdir"
        if found_before_work(err):
            refuse(prog, message)
        raise SystemExit(f"{prog}: error: {message}") from None
    except checkpoint.WriteError as err:  # a full disk, no permission: the old files are intact
        raise SystemExit(f"{prog}: error: {err}") from None
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
