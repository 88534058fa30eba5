"""The main job: run every experiment at one preset and write a report with a claims table.

Each experiment module ``experiments.<name>`` (listed in ``EXPERIMENTS``) provides ``SCRIPT``
(see ``experiments._cli.Script``); optionally ``available(cfg) -> str | None`` (a reason to skip,
e.g. no CIFAR feature file given) and ``findings(results, cfg) -> str`` (a paragraph for the
report). Every experiment runs through ``_cli.execute`` into ``OUT/<name>/`` (config.json,
results.npz, figure.png/.pdf, claims.json); then ``OUT/report.md`` (and ``OUT/report.html``, the
same Markdown converted by Python-Markdown) gets a header (preset, seed, date, library versions,
device, total runtime), an overview of the experiments, the claims table (every ``Claim`` of
every experiment: paper, claim, the measured number, the criterion, whether it holds) and one
section per experiment (the first paragraph of its docstring, its runtime, its figure, its
findings). The report is rewritten (atomically)
after every experiment, so an interrupted run leaves a valid partial report, and ``--resume``
continues it: every experiment resumes from its stage checkpoints and a finished one is
re-plotted from its results.npz. Without ``--resume`` it rewrites ``OUT`` (the main job's folder).

A module that is missing or raises becomes a failed row with the error message; the other
experiments still run, and the exit code is 1 at the end. A claim that does not hold is a result,
not an error: it is marked ✗ in the table and does not change the exit code.

Commands:
    jaxntk reproduce --preset quick --out results/          # everything, <= 20 min on 2 CPU cores
    python -m experiments.reproduce --preset smoke --out /tmp/rep --only asym_simulated,masked_asym
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path

from jaxntk import checkpoint, distributed, watchdog

EXPERIMENTS = [
    "masked_fig2a",
    "masked_fig2b",
    "masked_fig2c",
    "masked_fig2d",
    "masked_plateau_theory",
    "asym_simulated",
    "asym_teacher",
    "asym_regression",
    "asym_mnist",
    "asym_cifar_features",
    "asym_width_scaling",
    "masked_asym",
]
PRESET_NAMES = ("quick", "paper", "smoke")
VERSIONED = ("jax", "jaxlib", "flax", "optax", "numpy", "matplotlib")
MARK = {True: "✓", False: "✗"}
PRESET_NOTES = {
    "smoke": " (pipeline test only: too small for the claims to be expected to hold)",
    "quick": " (small, CPU-sized runs; the paper preset is the papers' scale)",
}


@dataclasses.dataclass
class Row:
    """The outcome of one experiment: status is "ok", "skipped" or "failed"."""

    name: str
    status: str = "failed"
    summary: str = ""  # first paragraph of the module docstring
    seconds: float = 0.0  # the run's time (when it was computed, for a result reused by --resume)
    claims: list = dataclasses.field(default_factory=list)  # of _cli.Claim
    findings: str = ""
    reason: str = ""  # why skipped / the error message
    details: str = ""  # traceback of a failure
    figures: list = dataclasses.field(default_factory=list)  # PNGs, relative to the report
    variant: str = ""  # the --set changes this experiment took ("data=fashion_mnist"), or ""
    run: str = ""  # when and with what it was computed (date, jax), for a published report

    @property
    def key(self) -> str:
        """The experiment and its variant: its folder, figure name and report anchor."""
        return self.name if not self.variant else f"{self.name}--{_slug(self.variant)}"

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["claims"] = [c.to_json() for c in self.claims]
        return out

    @classmethod
    def from_json(cls, data: dict) -> Row:
        from ._cli import Claim

        fields = {f.name for f in dataclasses.fields(cls)}
        row = cls(**{k: v for k, v in data.items() if k in fields})
        row.claims = [Claim(**c) for c in row.claims]
        return row


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "-" for c in text)


def first_paragraph(doc: str | None) -> str:
    """The docstring's first paragraph on one line."""
    if not doc:
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def configure(name: str, preset: str, seed: int | None = None, settings=()):
    """``(module, script, cfg)``: experiment ``name``'s preset with ``seed`` and the ``settings``
    ((field, text) pairs, each parsed as its command-line flag) its Config has applied, and the
    variant text of those applied ("" if none). Raises on a bad name, preset or value."""
    from . import _cli

    module = importlib.import_module(f".{name}", __package__)
    script = getattr(module, "SCRIPT", None)
    if script is None:
        raise AttributeError(f"experiments.{name} defines no SCRIPT (not a report experiment)")
    if preset not in script.presets:
        raise KeyError(f"experiments.{name} has no preset {preset!r} ({sorted(script.presets)})")
    cfg = script.presets[preset]
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    fields = {f.name for f in dataclasses.fields(cfg)}
    applied = [(field, text) for field, text in settings if field in fields]
    changes = {field: _cli.field_value(script.presets, field, text) for field, text in applied}
    variant = ",".join(f"{field}={text}" for field, text in applied)
    return module, script, dataclasses.replace(cfg, **changes), variant


def check_settings(names, preset: str, settings) -> str | None:
    """What is wrong with ``--set`` for these experiments (a field none of them has, a value
    that does not parse), or None: checked before anything runs."""
    fields = set()
    for name in names:
        try:
            _, _, cfg, _ = configure(name, preset, None, settings)
        except ValueError as err:
            return f"--set for {name}: {err}"
        except Exception:  # a broken experiment becomes a failed row when it runs
            continue
        fields |= {f.name for f in dataclasses.fields(cfg)}
    missing = [field for field, _ in settings if field not in fields]
    if missing:
        return (
            f"--set {missing[0]}=...: none of {', '.join(names)} has a Config field "
            f"{missing[0]!r} (python -m experiments.<name> --help lists them)"
        )
    return None


def run_experiment(
    name: str, preset: str, seed: int | None, out: Path, resume=False, checkpoint_every=None,
    settings=(), mesh=None,
) -> Row:
    """Import ``experiments.<name>`` lazily and run it at ``preset``; never raises.

    ``resume``, ``checkpoint_every``, ``mesh``: see ``_cli.execute``; ``settings``: see
    ``configure``. A variant runs in ``OUT/<name>--<variant>/``.
    """  # fmt: skip
    row = Row(name)
    start = time.perf_counter()
    try:
        module, script, cfg, row.variant = configure(name, preset, seed, settings)
        row.summary = first_paragraph(module.__doc__)
        available = getattr(module, "available", None)
        reason = available(cfg) if available is not None else None
        if reason:
            row.status, row.reason = "skipped", str(reason)
            return row
        outcome = _run_script(script, cfg, out / row.key, resume, checkpoint_every, mesh)
        row.claims = outcome["claims"]
        row.figures = [f"{row.key}/{p.name}" for p in outcome["paths"] if p.suffix == ".png"]
        if hasattr(module, "findings"):
            row.findings = str(module.findings(outcome["results"], cfg))
        row.status = "ok"
        row.seconds = outcome["seconds"]
    except Exception as err:  # a broken experiment must not stop the others
        row.status, row.reason = "failed", f"{type(err).__name__}: {err}"
        missing = isinstance(err, ModuleNotFoundError) and err.name == f"experiments.{name}"
        from . import _cli

        refused = _cli.found_before_work(err)  # its folder or files, named in the message
        row.details = "" if missing or refused else traceback.format_exc()  # the message says all
    finally:
        if row.status != "ok":
            row.seconds = time.perf_counter() - start
    return row


def _run_script(script, cfg, outdir: Path, resume=False, checkpoint_every=None, mesh=None):
    from . import _cli

    return _cli.execute(
        script, cfg, outdir, verbose=False, resume=resume, checkpoint_every=checkpoint_every,
        mesh=mesh,
    )  # fmt: skip


# --------------------------------------------------------------------------------- the header


def environment() -> dict[str, str]:
    """Library versions and the device, for the report's header."""
    info = {}
    for package in VERSIONED:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["python"] = platform.python_version()
    try:
        import jax

        devices = jax.devices()
        info["device"] = (
            f"{devices[0].platform} ({devices[0].device_kind}) × {len(devices)}, "
            f"{os.cpu_count()} CPU cores"
        )
    except Exception as err:  # the report must still be written
        info["device"] = f"unknown ({type(err).__name__}: {err})"
    return info


def _header(preset: str, seed: int | None, started: datetime.datetime, seconds: float, env):
    seed_text = "each preset's own (Config.seed)" if seed is None else str(seed)
    versions = ", ".join(f"{k} {env[k]}" for k in (*VERSIONED, "python"))
    return [
        ("preset", preset),
        ("seed", seed_text),
        ("date", started.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("versions", versions),
        ("device", env["device"]),
        ("total runtime", _duration(seconds)),
        ("claims", f"judged at the {preset!r} preset's sizes{PRESET_NOTES.get(preset, '')}"),
    ]


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def _claim_counts(rows) -> tuple[int, int]:
    claims = [c for r in rows for c in r.claims]
    return sum(c.holds for c in claims), len(claims)


def _official_cells(claim) -> tuple[str, str]:
    """(the official figure's value, ours / official) for the claims table; "–" where none."""
    if claim.official is None:
        return "–", "–"
    ratio = claim.ratio
    return f"{claim.official:.3g}", "–" if ratio is None else f"{ratio:.2f}"


CLAIM_COLUMNS = (
    "experiment", "paper", "claim", "measured", "criterion", "official figure", "ours / official",
    "holds",
)  # fmt: skip


def _status_text(row: Row) -> str:
    if row.status == "ok":
        held = sum(c.holds for c in row.claims)
        return f"ok — {held}/{len(row.claims)} claims hold"
    return f"{row.status}: {row.reason}"


# ------------------------------------------------------------------------------------ markdown


def _md_cell(text) -> str:
    return " ".join(str(text).split()).replace("|", r"\|")


def _md_table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown(rows, header) -> str:
    held, total = _claim_counts(rows)
    lines = ["# jaxntk reproduction report", ""]
    lines += [f"- **{k}**: {v}" for k, v in header]
    lines += ["", "## Experiments", ""]
    lines += _md_table(
        ("experiment", "status", "runtime"),
        [(f"[{r.key}](#{r.key})", _status_text(r), _duration(r.seconds)) for r in rows],
    )
    lines += ["", f"## Claims ({held}/{total} hold)", ""]
    lines += _md_table(
        CLAIM_COLUMNS,
        [
            (r.key, c.paper, c.claim, c.measured, c.criterion, *_official_cells(c),
             MARK[c.holds])
            for r in rows
            for c in r.claims
        ],
    )  # fmt: skip
    for r in rows:
        lines += ["", f"## {r.key}", ""]  # its anchor #key: GitHub's and html_report's
        if r.summary:
            lines += [r.summary, ""]
        if r.variant:
            lines += [f"Variant: `--set {r.variant}` (the preset with these fields changed).", ""]
        run = f"; run {r.run}" if r.run else ""
        lines += [f"*{_status_text(r)}; runtime {_duration(r.seconds)}{run}*", ""]
        for figure in r.figures:
            lines += [f"![{r.key}]({figure})", ""]
        if r.findings:
            lines += ["**Findings.** " + " ".join(r.findings.split()), ""]
        if r.details:
            lines += ["```", r.details.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------- html

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.holds { text-align: center; font-weight: bold; }
.yes { color: #1a7f37; } .no { color: #cf222e; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""
# The claims table's last cell, as Python-Markdown writes it, marked for the stylesheet.
_HOLDS_CELL = {mark: f'<td class="holds"><span class="{cls}">{mark}</span></td>'
               for mark, cls in ((MARK[True], "yes"), (MARK[False], "no"))}  # fmt: skip


def html_report(rows, header) -> str:
    """``markdown(rows, header)`` converted by Python-Markdown (tables, fenced code, heading ids):
    the report is written once, as Markdown. Raw HTML is not interpreted (an experiment's text
    is data, never markup: ``<b>`` in a claim is shown, escaped), and each ✓ / ✗ cell gets the
    class ``holds``."""
    import markdown as md_lib

    converter = md_lib.Markdown(extensions=["tables", "fenced_code", "toc"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(markdown(rows, header))
    for mark, cell in _HOLDS_CELL.items():
        body = body.replace(f"<td>{mark}</td>", cell)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>jaxntk reproduction report</title>\n<style>{CSS}</style></head><body>\n"
        f"{body}\n</body></html>\n"
    )


def write_report(out: Path, rows, header) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    checkpoint.atomic_write_text(md, markdown(rows, header))
    checkpoint.atomic_write_text(page, html_report(rows, header))
    return md, page


# ------------------------------------------------------------------------------------ publish

PUBLISHED_PNG_BYTES = 300_000  # a committed figure stays small


def _small_png(source: Path, dest: Path, limit: int = PUBLISHED_PNG_BYTES) -> None:
    """``source`` re-encoded as a palette PNG, halved in size until it fits ``limit`` bytes."""
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
        while True:
            with checkpoint.atomic_path(dest) as tmp:
                image.quantize(256).save(tmp, format="PNG", optimize=True)
            if dest.stat().st_size <= limit or image.width < 400:
                return
            image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)


ROWS_FILE = "rows.json"  # a published report's rows, read back when the next run is published


def _earlier_rows(dest: Path, preset: str) -> list[Row]:
    """The rows a published report in ``dest`` holds (none if there is none)."""
    path = dest / ROWS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [Row.from_json(r) for r in data["rows"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a published report's rows ({type(err).__name__}: {err}); restore it "
            "from git or delete it to publish this run alone"
        ) from None
    if data.get("preset") != preset:
        raise ValueError(
            f"{dest} holds a {data.get('preset')!r} report, this run is {preset!r}: publish it "
            f"to another folder, or delete {path} to start that report afresh"
        )
    return rows


def _report_order(row: Row):
    position = EXPERIMENTS.index(row.name) if row.name in EXPERIMENTS else len(EXPERIMENTS)
    return position, row.name, row.variant


def publish(out: Path, rows, preset: str, seed, started, env, dest: Path) -> Path:
    """A committable copy of a report: ``dest/report.md``, ``dest/<key>.png`` (each at most
    ``PUBLISHED_PNG_BYTES``), ``dest/claims.json`` (every claim, with its experiment) and
    ``dest/rows.json``. Rows ``dest`` already holds for other experiments or variants of the same
    preset are kept (each section names the run it came from), so paper-scale runs made one at a
    time, in different sessions, add up to one report."""
    dest.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_rows(dest, preset)  # read first: a foreign rows file stops before writing
    fresh = []
    for row in rows:
        figures = []  # figure.png -> <key>.png, figure-<part>.png -> <key>-<part>.png
        for figure in row.figures:
            if (out / figure).is_file():
                name = row.key + Path(figure).name.removeprefix("figure")
                _small_png(out / figure, dest / name)
                figures.append(name)
        fresh.append(dataclasses.replace(row, figures=figures))
    keys = {r.key for r in fresh}
    kept = [r for r in earlier if r.key not in keys]
    merged = sorted(kept + fresh, key=_report_order)
    header = _header(preset, seed, started, sum(r.seconds for r in merged), env)
    if kept:
        header.append(("rows of earlier runs", f"{', '.join(r.key for r in kept)} (each section "
                       "names its run; total runtime counts them)"))  # fmt: skip
    checkpoint.atomic_write_text(dest / "report.md", markdown(merged, header))
    claims = [{"experiment": r.key, **c.to_json(), "ratio": c.ratio} for r in merged
              for c in r.claims]  # fmt: skip
    checkpoint.atomic_write_text(dest / "claims.json", json.dumps(claims, indent=2) + "\n")
    rows_json = {"preset": preset, "rows": [r.to_json() for r in merged]}
    checkpoint.atomic_write_text(dest / ROWS_FILE, json.dumps(rows_json, indent=1) + "\n")
    return dest / "report.md"


# ---------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick")
    parser.add_argument("--out", type=Path, default=Path("results"), help="default: results/")
    parser.add_argument(
        "--seed", type=int, default=None, help="replaces every preset's seed (default: keep them)"
    )
    parser.add_argument(
        "--only",
        type=lambda s: [n.strip() for n in s.split(",") if n.strip()],
        default=None,
        metavar="NAME[,NAME...]",
        help=f"run only these experiments (default: all of {', '.join(EXPERIMENTS)})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: every experiment resumes from its stage checkpoints "
        "in OUT/<name>/checkpoint/ and a finished one is re-plotted from its results.npz",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="also checkpoint every N GD steps inside the asymmetric-scaling scripts' stages",
    )
    parser.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a Config field in every experiment that has it (repeatable; as its own "
        "--FIELD flag writes it): --set data=fashion_mnist. Such a run is a variant: it goes to "
        "OUT/<name>--<variant>/ and is its own row of the report",
    )
    parser.add_argument(
        "--publish",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write a committable copy to DIR: report.md, one small PNG per figure, "
        "claims.json, rows.json (e.g. docs/reproduction); the rows DIR already holds for other "
        "experiments (or variants) of the same preset are kept, so runs add up",
    )
    from . import _cli

    _cli.add_stall_timeout(parser)
    _cli.add_processes(parser)
    return parser


def _setting(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or not field.strip() or not value.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not FIELD=VALUE; write it like --set data=fashion_mnist"
        )
    return field.strip(), value.strip()


def reproduce(
    preset: str,
    out: Path,
    seed: int | None = None,
    only=None,
    resume=False,
    checkpoint_every=None,
    publish_to: Path | None = None,
    settings=(),
    mesh=None,
) -> int:
    """Run the experiments and write the report; 0 if none failed, else 1.

    ``settings``: (field, value text) pairs applied to every experiment whose Config has the
    field (``configure``). ``out`` is held for the whole run (``experiments._outdir.hold``:
    another run on it is refused, ``FolderBusy`` naming its PID), and each experiment's folder
    by its own run. ``mesh``: what the sweeps split over (``_cli.execute``). Over several
    processes process 0 alone holds ``out`` and writes the report (``jaxntk.distributed``).
    """
    from . import _outdir

    out = Path(out)
    with contextlib.ExitStack() as held:
        distributed.on_writer(lambda: held.enter_context(_outdir.hold(out, "--out")))
        return _reproduce(
            preset, out, seed, only, resume, checkpoint_every, publish_to, settings, mesh
        )


def _reproduce(preset, out, seed, only, resume, checkpoint_every, publish_to, settings,
               mesh=None) -> int:  # fmt: skip
    from tqdm.auto import tqdm

    names = list(only) if only else list(EXPERIMENTS)
    started = datetime.datetime.now().astimezone()
    start = time.perf_counter()
    env = environment()
    run_text = f"{started.strftime('%Y-%m-%d %H:%M %Z')}, jax {env['jax']}, {env['device']}"
    rows: list[Row] = []
    writer = distributed.is_writer()  # the others compute, process 0 reports and writes
    bar = tqdm(names, desc="experiments", unit="exp", disable=not writer)
    for name in bar:
        bar.set_postfix_str(name)
        row = run_experiment(name, preset, seed, out, resume, checkpoint_every, settings, mesh)
        row.run = run_text
        rows.append(row)
        if writer:
            tqdm.write(f"{row.key}: {_status_text(row)} ({_duration(row.seconds)})")
            if row.details:
                tqdm.write(row.details.rstrip())
        header = _header(preset, seed, started, time.perf_counter() - start, env)
        md, page = distributed.on_writer(lambda h=header: write_report(out, rows, h))
    bar.close()
    if not rows:
        header = _header(preset, seed, started, 0.0, env)
        md, page = distributed.on_writer(lambda: write_report(out, rows, header))
    held, total = _claim_counts(rows)
    failed = [r.key for r in rows if r.status == "failed"]
    if not writer:
        return 1 if failed else 0
    print(f"{held}/{total} claims hold; wrote {md} and {page}")
    if publish_to is not None:
        print(f"published {publish(out, rows, preset, seed, started, env, Path(publish_to))}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    """``python -m experiments.reproduce [--preset P] [--out DIR] [--seed N] [--only a,b]``."""
    from ._cli import OneLineParser

    parser = OneLineParser(
        prog="python -m experiments.reproduce", description=__doc__.splitlines()[0]
    )
    args = add_arguments(parser).parse_args(argv)
    return _reproduce_args(args)


def _reproduce_args(args) -> int:
    from . import _cli, _outdir

    names = args.only or EXPERIMENTS
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        return _usage_error(f"--checkpoint-every must be a number of steps >= 1, got "
                            f"{args.checkpoint_every}")  # fmt: skip
    try:
        stall_timeout = watchdog.timeout(args.stall_timeout)
    except ValueError as err:
        return _usage_error(str(err))
    problem = check_settings(names, args.preset, args.set)
    if problem:
        return _usage_error(problem)
    try:
        _cli.check_folder(args.out, "--out")  # a file there would fail after the first run
    except ValueError as err:
        return _usage_error(str(err))
    _cli.setup_command_line()  # Agg backend, fast-compiling threefry (see there)
    try:
        mesh = _cli.start_processes(
            (args.coordinator, args.num_processes, args.process_id), args.mesh
        )
    except ValueError as err:
        return _usage_error(str(err))
    try:
        with watchdog.watch(stall_timeout, outdir=args.out, command=resume_command(args)):
            return reproduce(
                args.preset,
                args.out,
                args.seed,
                args.only,
                args.resume,
                args.checkpoint_every,
                args.publish,
                args.set,
                mesh,
            )
    except _outdir.FolderBusy as err:
        return _usage_error(str(err))
    except checkpoint.WriteError as err:  # the report could not be written (a full disk)
        print(f"reproduce: error: {err}", file=sys.stderr)
        return 1


def resume_command(args) -> str:
    """The command that continues the run of the parsed ``args``: the same, with ``--resume``."""
    parts = ["--preset", args.preset, "--out", str(args.out)]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    if args.only:
        parts += ["--only", ",".join(args.only)]
    if args.checkpoint_every is not None:
        parts += ["--checkpoint-every", str(args.checkpoint_every)]
    for field, value in args.set:
        parts += ["--set", f"{field}={value}"]
    if args.publish is not None:
        parts += ["--publish", str(args.publish)]
    if args.stall_timeout is not None:
        parts += ["--stall-timeout", f"{args.stall_timeout:g}"]
    command = getattr(args, "command", None)  # "reproduce" under the jaxntk console command
    prog = "jaxntk reproduce" if command else "python -m experiments.reproduce"
    return f"{prog} {shlex.join([*parts, '--resume'])}"


def _usage_error(message: str) -> int:
    print(f"reproduce: error: {message}", file=sys.stderr)
    return 2


def cli(argv=None) -> int:
    """The ``jaxntk`` console command: ``jaxntk reproduce --preset quick --out results/``."""
    from ._cli import OneLineParser

    parser = OneLineParser(
        prog="jaxntk", description="jaxntk: shallow ReLU networks, masked neurons, node scaling."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    add_arguments(
        commands.add_parser(
            "reproduce",
            help="run every experiment and write report.md / report.html",
            description=__doc__.splitlines()[0],
        )
    )
    return _reproduce_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
