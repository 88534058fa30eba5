"""Digitize the official figures of Caron et al. into ``experiments/official_curves.json``.

    git clone https://github.com/juho-lee/asymmetrical_scaling /tmp/asym
    python -m experiments.digitize_official --repo /tmp/asym
    python -m experiments.digitize_official --repo /tmp/asym --check   # the file is current

``--repo`` is any git clone of the official repository, a working tree or a bare mirror: the
PDFs, the notebooks and the licence are read from the commit ``--rev`` (default HEAD) with
``git show``, so the data file names exactly what it was read from.

For each PDF in ``figures/`` (``_digitize.digitize``): both axes calibrated from their tick
marks, and per configuration (tab10 colour, ``_official_curves.CONFIGS``) the band's x, low and
high and its midpoint as the mean. A figure goes into ``"skipped"`` with the reason instead when
it does not read as exactly the four configurations with a band each, when a legend names a
colour otherwise than ``CONFIGS``, or when the drawn line strays from the band's midpoint by
more than ``LINE_TOLERANCE`` of the y span (then the band is not mean ± sd).

Needs pdfplumber (``pip install 'jaxntk[digitize]'``); the data file it writes does not.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

from . import _digitize
from ._official_curves import CONFIGS, DATA_FILE, LICENCE, QUANTITIES, SOURCE

# The drawn mean line is simplified by matplotlib (up to ~0.5 pt off on the steep MNIST
# accuracy rises, 2e-3 of the span); beyond this the band is not the line's mean ± sd.
LINE_TOLERANCE = 5e-3
# Values are kept to 1e-4 of their axis span's decade (at most 5e-5 of the span, a hundredth
# of the drawn line's width); the calibration misfits are ~1e-9 of the span.
DIGITS_BELOW_SPAN = 4
NOTEBOOKS = (
    "simulations/visualize.ipynb",
    "regression/visualize.ipynb",
    "mnist/visualize.ipynb",
    "cifar10/visualize_all.ipynb",
)


# ----------------------------------------------------------------------------------------------
# Reading the official repository (git only: a working tree and a bare mirror alike)


def _git(repo: Path, *args: str) -> bytes:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True
        ).stdout
    except FileNotFoundError as err:
        raise SystemExit("git is needed to read the official repository") from err
    except subprocess.CalledProcessError as err:
        raise SystemExit(
            f"git {' '.join(args)} failed in {repo}: {err.stderr.decode().strip()}\n"
            f"--repo must be a clone: git clone https://{SOURCE} DIR"
        ) from err


def read_repository(repo: Path, rev: str = "HEAD") -> tuple[str, dict, dict, str]:
    """(commit, {figure path: PDF bytes}, {notebook path: JSON}, licence text) at ``rev``."""
    commit = _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    names = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", "figures/").decode()
    pdfs = {n: _git(repo, "show", f"{commit}:{n}") for n in names.split() if n.endswith(".pdf")}
    if not pdfs:
        raise SystemExit(f"no figures/*.pdf at {commit} in {repo}: is it {SOURCE}?")
    notebooks = {n: json.loads(_git(repo, "show", f"{commit}:{n}")) for n in NOTEBOOKS}
    licence = _git(repo, "show", f"{commit}:LICENSE").decode()
    return commit, pdfs, notebooks, licence


def notebook_models(nb: dict) -> list[str]:
    """The uncommented entries of the first ``models = [...]`` list in a notebook."""
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        m = re.search(r"^models\s*=\s*\[(.*?)\]", src, re.S | re.M)
        if m and cell["cell_type"] == "code":
            lines = [ln.split("#")[0] for ln in m.group(1).splitlines()]
            return re.findall(r"\"([^\"]+)\"", "\n".join(lines))
    raise ValueError("no `models = [...]` list")


def check_notebooks(notebooks: dict) -> None:
    """Every notebook plots ``CONFIGS`` in their colour order (matplotlib's default cycle)."""
    want = [c.name for c in CONFIGS]
    for path, nb in notebooks.items():
        got = notebook_models(nb)
        if got != want:
            raise SystemExit(f"{path} plots {got}, not {want}: update _official_curves.CONFIGS")


# ----------------------------------------------------------------------------------------------
# One figure


_GAMMA = re.compile(r"γ\s*=\s*([0-9.]+)")


def figure_entry(name: str, pdf: bytes, commit: str) -> dict:
    """The data file's entry for ``figures/<name>.pdf``; ValueError says why it is skipped."""
    fig = _digitize.digitize(_digitize.read_pdf(pdf))
    by_colour = {c.colour: c for c in CONFIGS}
    if sorted(fig.series) != sorted(by_colour):
        raise ValueError(
            f"curves in colours {[f'C{i}' for i in sorted(fig.series)]}, not the four "
            "configurations' C0-C3"
        )
    for i, text in fig.legend:
        m = _GAMMA.search(text)
        if not m or float(m.group(1)) != by_colour[i].gamma:
            raise ValueError(f"legend labels C{i} {text!r}, expected γ = {by_colour[i].gamma}")
    curves, worst = {}, 0.0
    x_q, y_q = _quantum(fig.xaxis), _quantum(fig.yaxis)
    for i, config in sorted(by_colour.items(), key=lambda kv: -kv[1].gamma):
        s = fig.series[i]
        if s.low is None:
            raise ValueError(f"C{i} has no ±sd band")
        if s.line_deviation is not None:
            worst = max(worst, s.line_deviation)
        curves[f"{config.gamma:g}"] = {
            "colour": f"C{i}",
            "alpha": config.alpha,
            "official_name": config.name,
            "x": _rounded(s.x, x_q),
            "mean": _rounded(s.mean, y_q),
            "low": _rounded(s.low, y_q),
            "high": _rounded(s.high, y_q),
        }
    if worst > LINE_TOLERANCE:
        raise ValueError(f"the drawn line is {worst:.2g} of the y span off the band's midpoint")
    q = QUANTITIES.get(name)
    if q is None:
        raise ValueError("no entry in _official_curves.QUANTITIES says what it plots")
    return {
        "source": f"figures/{name}.pdf",
        "commit": commit,
        "licence": LICENCE,
        "quantity": q.key,
        "axis": q.axis,
        "what": q.what,
        "xlabel": fig.xlabel,
        "ylabel": fig.ylabel,
        "xscale": fig.xaxis.scale,
        "yscale": fig.yaxis.scale,
        "xlim": [_sig(v) for v in fig.xaxis.lim],
        "ylim": [_sig(v) for v in fig.yaxis.lim],
        "x_offset_text": fig.xaxis.offset_text or None,
        "y_offset_text": fig.yaxis.offset_text or None,
        "legend": [text for _, text in fig.legend] or None,
        "calibration_misfit": _sig(max(fig.xaxis.residual, fig.yaxis.residual), 2),
        "line_vs_band_midpoint": _sig(worst, 2),
        "notes": fig.notes or None,
        "curves": curves,
    }


def _sig(v: float, digits: int = 6) -> float:
    return float(f"{v:.{digits}g}")


def _quantum(axis) -> int:
    """Decimals that keep ``DIGITS_BELOW_SPAN`` digits below the axis span's decade."""
    lo, hi = axis.lim
    span = abs(math.log10(hi / lo)) if axis.scale == "log" else abs(hi - lo)
    return DIGITS_BELOW_SPAN - math.floor(math.log10(span))


def _rounded(values, decimals: int) -> list:
    """Rounded to ``decimals`` (negative: to tens, hundreds...); whole numbers as integers
    (GD steps, k, nodes pruned read 1000, not 1000.0)."""
    out = []
    for v in values:
        r = round(float(v), decimals)
        out.append(int(r) if r.is_integer() else r)
    return out


# ----------------------------------------------------------------------------------------------
# The data file


def build(repo: Path, rev: str = "HEAD") -> dict:
    commit, pdfs, notebooks, licence = read_repository(repo, rev)
    if not licence.lstrip().startswith("MIT License"):
        raise SystemExit(f"LICENSE at {commit} is not the MIT licence: check before using it")
    check_notebooks(notebooks)
    figures, skipped = {}, {}
    for path in sorted(pdfs):
        name = path.removeprefix("figures/").removesuffix(".pdf")
        try:
            figures[name] = figure_entry(name, pdfs[path], commit)
        except ValueError as err:
            skipped[name] = str(err)
    copyright_line = next((ln for ln in licence.splitlines() if "Copyright" in ln), "")
    return {
        "about": (
            "The official figures of Caron et al., 'Over-parameterised shallow neural networks "
            "with asymmetrical node scaling' (arXiv 2302.01002), digitized from their vector "
            "PDFs. Per figure and gamma: x (every plotted x), mean, low, high = the official "
            "mean ± 1 sd (numpy std, ddof 0) over 5 runs (the fill_between band's edges; "
            "mean = its midpoint, "
            "which the drawn line matches within line_vs_band_midpoint of the y span). Values "
            f"kept to 1e-{DIGITS_BELOW_SPAN} of each axis span's decade."
        ),
        "source": {
            "repository": SOURCE,
            "commit": commit,
            "licence": LICENCE,
            "copyright": copyright_line.strip(),
            "notebooks_checked": list(NOTEBOOKS),
        },
        "generated_by": "python -m experiments.digitize_official --repo DIR",
        "configurations": [
            {"colour": f"C{c.colour}", "gamma": c.gamma, "alpha": c.alpha, "name": c.name}
            for c in CONFIGS
        ],
        "figures": figures,
        "skipped": skipped,
    }


def dumps(obj, indent: int = 0) -> str:
    """JSON with one line per list of numbers: diff-able, and a tenth of indent=1's lines."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, dict | list) for v in obj):
        items = [f"{pad}  {dumps(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(obj, ensure_ascii=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.digitize_official",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Source: https://{SOURCE} ({LICENCE}).",
    )
    parser.add_argument(
        "--repo", type=Path, required=True, help=f"a git clone of {SOURCE} (working tree or bare)"
    )
    parser.add_argument("--rev", default="HEAD", help="commit to read (default HEAD)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DATA_FILE,
        help=f"data file to write (default: {DATA_FILE.name} in experiments/)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if --out differs from what it would hold",
    )
    args = parser.parse_args(argv)
    text = dumps(build(args.repo, args.rev)) + "\n"
    data = json.loads(text)
    summary = f"{len(data['figures'])} figures digitized, {len(data['skipped'])} skipped"
    for name, why in data["skipped"].items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        print(f"{summary}; {args.out} is {'current' if current == text else 'OUT OF DATE'}")
        return 0 if current == text else 1
    args.out.write_text(text)
    print(f"{summary}: wrote {args.out} ({len(text) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
