"""Digitize a matplotlib vector figure: curves, ±sd bands and axes read back as data.

A matplotlib PDF keeps every plotted vertex: ``plt.plot`` is a stroked path, ``fill_between`` a
filled polygon, tick marks are short lines and tick labels are glyphs with positions. This module
turns those page objects (as ``pdfplumber`` lists them) into data coordinates:

1. the axes frame is the box of the long spine lines;
2. each axis is calibrated from its tick marks (exact positions) and the numbers written next
   to them, including an offset text at the axis end ("1e5", "×10^5", "+1e3") and log axes
   ("10^{-3}" in mathtext);
3. a filled polygon in a tab10 colour is a band: its vertices come in pairs at the same x (the
   lower and the upper edge), so grouping them by x gives (x, low, high) at every plotted x;
4. a stroked path in the same colour is the line drawn through the band.

Why the band and not the line gives the curve: matplotlib simplifies stroked paths (drops
nearly collinear vertices) and clips them to the page, but writes filled paths untouched. So
for ``fill_between(x, mean - sd, mean + sd)`` plus ``plot(x, mean)`` the band has one vertex
pair per plotted x and its midpoint is the mean exactly; the line only checks it
(``Series.line_deviation``).

Everything here is a pure function of the page objects; ``read_pdf`` (the only I/O) turns a
file into them. Coordinates are pdfplumber's: points, x to the right, ``top`` downwards.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re

import numpy as np

# matplotlib's default colour cycle ("tab10"), C0..C9, as 0-1 RGB.
TAB10 = (
    (0.12156862745098039, 0.4666666666666667, 0.7058823529411765),
    (1.0, 0.4980392156862745, 0.054901960784313725),
    (0.17254901960784313, 0.6274509803921569, 0.17254901960784313),
    (0.8392156862745098, 0.15294117647058825, 0.1568627450980392),
    (0.5803921568627451, 0.403921568627451, 0.7411764705882353),
    (0.5490196078431373, 0.33725490196078434, 0.29411764705882354),
    (0.8901960784313725, 0.4666666666666667, 0.7607843137254902),
    (0.4980392156862745, 0.4980392156862745, 0.4980392156862745),
    (0.7372549019607844, 0.7411764705882353, 0.13333333333333333),
    (0.09019607843137255, 0.7450980392156862, 0.8117647058823529),
)
_COLOUR_TOL = 2e-3  # PDF colours are written with >= 4 decimals
_MINUS = "\u2212"  # matplotlib writes minus signs as U+2212


@dataclasses.dataclass(frozen=True)
class Page:
    """The objects of one PDF page, as pdfplumber lists them (plain dicts)."""

    width: float
    height: float
    chars: list
    lines: list  # straight two-point paths: spines, tick marks
    curves: list  # every other path: stroked lines, filled bands, legend handles


@dataclasses.dataclass(frozen=True)
class Label:
    """One piece of text: consecutive glyphs on one baseline (superscripts kept as ``^{..}``).

    ``x``, ``top``: centre of its box; ``angle``: degrees, 0 = upright, 90 = reading upwards;
    ``em``: font size; ``plain``: one font, one baseline (not mathtext with sub/superscripts);
    ``font``: its font names.
    """

    text: str
    x: float
    top: float
    x0: float
    x1: float
    top0: float
    bottom: float
    angle: float
    em: float
    plain: bool
    font: str


@dataclasses.dataclass(frozen=True)
class Axis:
    """Map from a page coordinate to data along one axis.

    ``scale``: "linear" or "log"; data = ``a + b * pos`` (linear) or ``10 ** (a + b * pos)``
    (log). ``ticks``: (position, value) pairs it was fitted on; ``residual``: largest misfit at
    a tick, as a fraction of the axis span (in log10 units for a log axis); ``lim``: data at the
    two ends of the frame (left/bottom first); ``offset_text``: the "1e5"-style text it used.
    """

    scale: str
    a: float
    b: float
    ticks: tuple
    residual: float
    lim: tuple
    offset_text: str = ""

    def to_data(self, pos):
        t = self.a + self.b * np.asarray(pos, dtype=float)
        return 10.0**t if self.scale == "log" else t


@dataclasses.dataclass(frozen=True)
class Series:
    """One colour's curve in data coordinates.

    ``x``: every plotted x (the band's vertex pairs); ``mean``: the band's midpoint; ``low``,
    ``high``: its edges. Without a band, ``x``/``mean`` are the line's vertices and
    ``low``/``high`` are None. ``line_deviation``: largest |line - band midpoint| over the
    band's x within the line's range, as a fraction of the y span (None when there is no line).
    """

    colour: int
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    line_deviation: float | None
    line_points: int


@dataclasses.dataclass(frozen=True)
class Figure:
    """What ``digitize`` reads off one single-axes figure."""

    xaxis: Axis
    yaxis: Axis
    xlabel: str | None
    ylabel: str | None
    series: dict  # colour index -> Series
    legend: list  # (colour index, legend text) for each legend entry found
    notes: list


# ----------------------------------------------------------------------------------------------
# I/O edge


def read_pdf(source) -> Page:
    """The objects of a one-page PDF. ``source``: a path, or the file's bytes."""
    try:
        import pdfplumber
    except ImportError as err:  # an optional extra: say which
        raise ImportError(
            "digitizing PDFs needs pdfplumber: pip install 'jaxntk[digitize]'"
        ) from err
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    with pdfplumber.open(fp) as pdf:
        if len(pdf.pages) != 1:
            raise ValueError(f"expected a one-page figure, got {len(pdf.pages)} pages")
        p = pdf.pages[0]
        return Page(float(p.width), float(p.height), list(p.chars), list(p.lines), list(p.curves))


# ----------------------------------------------------------------------------------------------
# Text


def _char_geometry(c, page_height: float):
    """(origin (x, top), unit reading direction (dx, dtop), font size, advance) of a char."""
    a, b, _, _, e, f = c["matrix"]  # the text matrix: origin (e, f) in PDF y-up coordinates
    norm = math.hypot(a, b) or 1.0
    cos, sin = a / norm, b / norm
    adv = float(c.get("adv", c["x1"] - c["x0"]))
    w, h = c["x1"] - c["x0"], c["bottom"] - c["top"]
    # pdfplumber's box is the axis-aligned box of the rotated (adv x size) glyph box:
    # w = adv|cos| + size|sin|, h = adv|sin| + size|cos|; solve for size.
    ac, as_ = abs(cos), abs(sin)
    size = (w + h - adv * (ac + as_)) / (ac + as_)
    return (e, page_height - f), (cos, -sin), max(size, 1e-6), adv


def labels(page: Page) -> list[Label]:
    """Group the page's glyphs into labels.

    Glyphs of one matplotlib text are consecutive in the content stream and adjacent along one
    reading direction; a new label starts at a change of direction, a gap of more than 0.3 em,
    or a jump off the baseline larger than a superscript's.
    """
    groups, cur = [], []
    for c in page.chars:
        if not c["text"].strip() and c["text"] != " ":
            continue
        origin, (ux, uy), size, adv = _char_geometry(c, page.height)
        item = (c, origin, (ux, uy), size, adv)
        if cur:
            _, po, pu, psize, padv = cur[-1]
            em = max(size, psize)
            along = (origin[0] - po[0]) * pu[0] + (origin[1] - po[1]) * pu[1]
            across = -(origin[0] - po[0]) * pu[1] + (origin[1] - po[1]) * pu[0]
            same_dir = abs(pu[0] - ux) < 1e-3 and abs(pu[1] - uy) < 1e-3
            if same_dir and -0.3 * em < along - padv < 0.3 * em and abs(across) < 0.75 * em:
                cur.append(item)
                continue
            groups.append(cur)
        cur = [item]
    if cur:
        groups.append(cur)
    return [_label(g) for g in groups]


def _label(group) -> Label:
    first_origin, (ux, uy) = group[0][1], group[0][2]
    em = max(g[3] for g in group)

    def rise(o):  # height above the first glyph's baseline, in the reading frame
        return (o[0] - first_origin[0]) * uy - (o[1] - first_origin[1]) * ux

    base = min(rise(g[1]) for g in group)
    text, sup = "", False
    for c, o, _, _, _ in group:
        up = rise(o) - base > 0.25 * em
        if up and not sup:
            text += "^{"
        elif sup and not up:
            text += "}"
        sup = up
        text += c["text"]
    if sup:
        text += "}"
    chars = [g[0] for g in group]
    x0, x1 = min(c["x0"] for c in chars), max(c["x1"] for c in chars)
    t0, t1 = min(c["top"] for c in chars), max(c["bottom"] for c in chars)
    fonts = {c["fontname"] for c in chars}
    plain = (
        len(fonts) == 1
        and "^{" not in text
        and max(abs(rise(g[1]) - base) for g in group) < 0.1 * em
    )
    angle = math.degrees(math.atan2(-uy, ux))
    return Label(
        text.strip(), (x0 + x1) / 2, (t0 + t1) / 2, x0, x1, t0, t1, angle, em, plain,
        ",".join(sorted(fonts)),
    )  # fmt: skip


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)"


def parse_number(text: str) -> float | None:
    """A tick label's value: "0.25", "−3", "10^{−3}", "2×10^{−3}"; None otherwise.

    "1e5" is not a tick label but an offset text (``parse_offset``): matplotlib's tick
    formatters write powers of ten in mathtext and move a common factor to the axis end.
    """
    t = text.replace(_MINUS, "-").replace(" ", "")
    if re.fullmatch(_NUM, t):
        return float(t)
    m = re.fullmatch(rf"(?:({_NUM})×)?10\^\{{([-+]?\d+)\}}", t)
    if m:
        return float(m.group(1) or 1.0) * 10.0 ** int(m.group(2))
    return None


def parse_offset(text: str) -> tuple[float, float] | None:
    """(multiplier, addend) of an axis offset text: "1e5", "×10^{5}", "+1e3", "1e5+2e3"."""
    t = text.replace(_MINUS, "-").replace(" ", "")
    m = re.fullmatch(
        rf"(?:1e([-+]?\d+)|×10\^\{{([-+]?\d+)\}})?"
        rf"(?:([-+]{_NUM}(?:e[-+]?\d+)?)|([-+])(?:({_NUM})×)?10\^\{{([-+]?\d+)\}})?",
        t,
    )
    if not m or not t:
        return None
    e1, e2, add, sign, mant, e3 = m.groups()
    mult = 10.0 ** int(e1 or e2) if (e1 or e2) else 1.0
    if add:
        addend = float(add)
    elif sign:
        addend = (-1 if sign == "-" else 1) * float(mant or 1.0) * 10.0 ** int(e3)
    else:
        addend = 0.0
    return mult, addend


# ----------------------------------------------------------------------------------------------
# Frame and axes


def _segments(page: Page):
    """The straight two-point paths as (x0, top0, x1, top1)."""
    out = []
    for obj in page.lines:
        (x0, t0), (x1, t1) = obj["pts"][0], obj["pts"][-1]
        out.append((x0, t0, x1, t1))
    return out


def frame(page: Page) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the axes: the box of the long spine lines."""
    segs = _segments(page)
    vert = [s for s in segs if abs(s[0] - s[2]) < 1e-6 and abs(s[1] - s[3]) > 0.3 * page.height]
    horiz = [s for s in segs if abs(s[1] - s[3]) < 1e-6 and abs(s[0] - s[2]) > 0.3 * page.width]
    xs = sorted({round(s[0], 3) for s in vert})
    ts = sorted({round(s[1], 3) for s in horiz})
    if len(xs) < 2 or len(ts) < 2:
        raise ValueError(
            "no axes frame: the figure needs its four spines drawn (matplotlib's default)"
        )
    if len(xs) > 2 or len(ts) > 2:
        raise ValueError(
            f"{len(xs)} vertical and {len(ts)} horizontal long lines: more than one axes or "
            "grid lines; this digitizer reads single-axes figures without a grid"
        )
    return xs[0], ts[0], xs[1], ts[1]


def tick_marks(page: Page, box, which: str) -> list[tuple[float, float]]:
    """(position, length) of each tick mark on the bottom ("x") or left ("y") spine."""
    left, top, right, bottom = box
    out = {}
    for x0, t0, x1, t1 in _segments(page):
        length = math.hypot(x1 - x0, t1 - t0)
        if not 0 < length < 0.05 * max(page.width, page.height):
            continue
        if which == "x" and abs(x0 - x1) < 1e-6 and left - 0.5 <= x0 <= right + 0.5:
            if min(abs(t0 - bottom), abs(t1 - bottom)) < 0.6:
                out[x0] = max(out.get(x0, 0.0), length)
        if which == "y" and abs(t0 - t1) < 1e-6 and top - 0.5 <= t0 <= bottom + 0.5:
            if min(abs(x0 - left), abs(x1 - left)) < 0.6:
                out[t0] = max(out.get(t0, 0.0), length)
    return sorted(out.items())


def _axis_texts(labs, box, which):
    """(tick labels as (label, value), offset labels) of one axis."""
    left, top, right, bottom = box
    ticks, offsets = [], []
    for lab in labs:
        if which == "x":
            near = lab.top0 > bottom and lab.top - bottom < 4 * lab.em
            near = near and left - 2 * lab.em < lab.x < right + 2 * lab.em
        else:
            near = lab.x1 < left + 0.5 and left - lab.x < 8 * lab.em
            near = near and top - 2 * lab.em < lab.top < bottom + 2 * lab.em
        if near and (value := parse_number(lab.text)) is not None:
            ticks.append((lab, value))
    # Offset texts: "1e5" below the right end of the x axis; above the top-left for y.
    for lab in labs:
        if (
            abs(lab.angle) > 1
            or parse_offset(lab.text) is None
            or parse_number(lab.text) is not None
        ):
            continue
        if which == "x" and lab.top0 > bottom and lab.x > (left + right) / 2:
            offsets.append(lab)
        if which == "y" and lab.bottom < top + 0.5 * lab.em and lab.x < (left + right) / 2:
            offsets.append(lab)
    return ticks, offsets


def _match(marks, tick_labels, which: str) -> list[tuple[float, object]]:
    """Pair each tick label with its tick mark.

    matplotlib labels every major tick it draws, so when the labels are as many as the major
    (longest) marks, or as all the marks, they pair in order: rotated labels (the official
    ``ntkmineig`` figures) sit a label's length away from their tick, too far for proximity.
    Otherwise (labelled minor ticks on a log axis) each label takes its nearest mark.
    """
    pos = np.array([m for m, _ in marks])
    length = np.array([n for _, n in marks])
    major = pos[length >= 0.75 * length.max()]
    by_pos = sorted(tick_labels, key=lambda lv: lv[0].x if which == "x" else lv[0].top)
    for candidates in (major, pos):
        if len(candidates) == len(by_pos):
            return [(float(m), lv) for m, lv in zip(candidates, by_pos)]
    out = []
    for lv in by_pos:
        lab = lv[0]
        at = lab.x if which == "x" else lab.top
        i = int(np.argmin(np.abs(pos - at)))
        if abs(pos[i] - at) > lab.em:
            raise ValueError(
                f"{which} axis: {len(by_pos)} tick labels for {len(major)} major and "
                f"{len(pos)} tick marks, and label {lab.text!r} at {at:.1f} pt has no mark "
                "within one em"
            )
        out.append((float(pos[i]), lv))
    return out


def calibrate(marks, tick_labels, which: str, box, offset_labels=()) -> Axis:
    """Fit an axis from its tick marks and the values labelled at them.

    ``marks``: ``tick_marks``' (position, length) pairs; ``tick_labels``: (Label, value);
    ``offset_labels``: at most one offset text ("1e5"), which multiplies (and shifts) every
    label. The scale is log when the labels are written as powers of ten ("10^{k}",
    "a×10^{k}"), else linear, and the fit must go through every labelled tick within 1e-4 of
    the span: a label read wrongly or paired with the wrong mark fails here, not silently.
    """
    name = f"{which} axis"
    if len(marks) < 2:
        raise ValueError(f"{name}: {len(marks)} tick marks; need two or more to calibrate")
    if len(tick_labels) < 2:
        raise ValueError(f"{name}: {len(tick_labels)} numeric tick labels; need two or more")
    if len(offset_labels) > 1:
        raise ValueError(f"{name}: several offset texts {[o.text for o in offset_labels]}")
    mult, add = parse_offset(offset_labels[0].text) if offset_labels else (1.0, 0.0)
    log = any("10^{" in lab.text for lab, _ in tick_labels)
    pairs = [(m, value * mult + add) for m, (_, value) in _match(marks, tick_labels, which)]
    if len({p for p, _ in pairs}) != len(pairs):
        raise ValueError(f"{name}: two labels share a tick mark: {pairs}")
    pos = np.array([p for p, _ in pairs])
    val = np.array([v for _, v in pairs])
    if log:
        if np.any(val <= 0):
            raise ValueError(f"{name}: log axis with non-positive labels {val}")
        val = np.log10(val)
    b, a = np.polyfit(pos, val, 1)
    ends = (box[0], box[2]) if which == "x" else (box[3], box[1])
    t_ends = a + b * np.asarray(ends)
    span = abs(t_ends[1] - t_ends[0])
    residual = float(np.max(np.abs(a + b * pos - val)) / span)
    if residual > 1e-4:
        raise ValueError(
            f"{name}: tick labels are not {'log-' if log else ''}linear in position "
            f"(misfit {residual:.2g} of the span): {list(zip(pos.round(2), val))}"
        )
    lim = tuple(float(v) for v in (10.0**t_ends if log else t_ends))
    text = offset_labels[0].text if offset_labels else ""
    return Axis("log" if log else "linear", float(a), float(b), tuple(pairs), residual, lim, text)


def _title(labs, box, which, used) -> str | None:
    """The axis label: the text beyond the tick labels, when it is plain text in one font
    (None for mathtext such as the official ``‖w_tj − w_0j‖``: its glyphs are not a string)."""
    left, top, right, bottom = box
    if which == "x":
        cand = [lb for lb in labs if abs(lb.angle) < 1 and lb.top0 > bottom and lb not in used]
        cand = sorted((lb for lb in cand if left < lb.x < right), key=lambda lb: lb.x)
    else:
        cand = [lb for lb in labs if abs(lb.angle - 90) < 1 and lb.x1 < left and lb not in used]
        cand = sorted(cand, key=lambda lb: -lb.top)
    if not cand or not all(lb.plain for lb in cand) or len({lb.font for lb in cand}) > 1:
        return None
    return " ".join(lb.text for lb in cand)


# ----------------------------------------------------------------------------------------------
# Curves


def colour_index(colour) -> int | None:
    """tab10 index of an RGB colour (pdfplumber tuple), or None."""
    if not isinstance(colour, tuple | list) or len(colour) != 3:
        return None
    for i, ref in enumerate(TAB10):
        if max(abs(float(c) - r) for c, r in zip(colour, ref)) < _COLOUR_TOL:
            return i
    return None


def band_edges(points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, top of one edge, top of the other) of a ``fill_between`` polygon, per plotted x.

    The polygon runs along one edge and back along the other (plus joining vertices at the
    ends), so every plotted x carries its two edge vertices; grouping by x needs no assumption
    about the order matplotlib wrote them in.
    """
    pts = np.asarray(points, dtype=float)
    order = np.argsort(pts[:, 0], kind="stable")
    pts = pts[order]
    split = np.flatnonzero(np.diff(pts[:, 0]) > 1e-6) + 1
    xs, lo, hi = [], [], []
    for grp in np.split(pts, split):
        xs.append(grp[:, 0].mean())
        lo.append(grp[:, 1].max())
        hi.append(grp[:, 1].min())
    return np.array(xs), np.array(lo), np.array(hi)


def _subpaths(curve) -> list[np.ndarray]:
    """The stroked path's pieces (split at each move-to), as (n, 2) page points."""
    path = curve.get("path")
    if not path:
        return [np.asarray(curve["pts"], dtype=float)]
    out, cur = [], []
    for cmd in path:
        op, pts = cmd[0], cmd[1:]
        if op == "m" and cur:
            out.append(np.asarray(cur))
            cur = []
        if op in ("m", "l", "c", "v", "y") and pts:
            cur.append(pts[-1])
    if cur:
        out.append(np.asarray(cur, dtype=float))
    return out


def _line_deviation(pieces, xaxis, yaxis, series_x, mid) -> float | None:
    worst = None
    span = abs(yaxis.lim[1] - yaxis.lim[0]) if yaxis.scale == "linear" else None
    for piece in pieces:
        if len(piece) < 2:
            continue
        lx, ly = xaxis.to_data(piece[:, 0]), yaxis.to_data(piece[:, 1])
        if np.any(np.diff(lx) < 0):
            continue  # not a function of x (a legend handle drawn backwards, say)
        inside = (series_x >= lx[0]) & (series_x <= lx[-1])
        if not inside.any():
            continue
        line = np.interp(series_x[inside], lx, ly)
        if span is None:  # log axis: compare in decades of the y span
            d = np.abs(np.log10(line) - np.log10(mid[inside]))
            d = d / abs(math.log10(yaxis.lim[1] / yaxis.lim[0]))
        else:
            d = np.abs(line - mid[inside]) / span
        worst = max(worst or 0.0, float(d.max()))
    return worst


def digitize(page: Page) -> Figure:
    """Read a single-axes matplotlib figure: both axes and one ``Series`` per tab10 colour."""
    box = frame(page)
    labs = labels(page)
    axes, used = {}, []
    for which in ("x", "y"):
        ticks, offsets = _axis_texts(labs, box, which)
        axes[which] = calibrate(tick_marks(page, box, which), ticks, which, box, offsets)
        used += [lab for lab, _ in ticks] + list(offsets)
    xaxis, yaxis = axes["x"], axes["y"]
    notes = []

    bands, strokes = {}, {}
    for obj in list(page.curves) + list(page.lines):
        if obj.get("fill") and (i := colour_index(obj.get("non_stroking_color"))) is not None:
            if i in bands:
                raise ValueError(f"two filled bands in colour C{i}: cannot tell them apart")
            bands[i] = obj
        elif obj.get("stroke") and (i := colour_index(obj.get("stroking_color"))) is not None:
            strokes.setdefault(i, []).append(obj)

    series, handles = {}, []
    for i in sorted(set(bands) | set(strokes)):
        lines = sorted(strokes.get(i, []), key=lambda o: o["x1"] - o["x0"], reverse=True)
        main = lines[0] if lines else None
        # A legend handle: a short stroke of the colour inside the frame, beside its text.
        for extra in lines[1:]:
            if extra["x1"] - extra["x0"] < 0.15 * (box[2] - box[0]):
                handles.append((i, extra))
            else:
                notes.append(f"C{i}: a second long line ignored ({len(extra['pts'])} points)")
        pieces = _subpaths(main) if main is not None else []
        if i in bands:
            bx, b1, b2 = band_edges(bands[i]["pts"])
            x = xaxis.to_data(bx)
            y1, y2 = yaxis.to_data(b1), yaxis.to_data(b2)
            low, high = np.minimum(y1, y2), np.maximum(y1, y2)
            mean = (low + high) / 2
            dev = _line_deviation(pieces, xaxis, yaxis, x, mean)
            series[i] = Series(i, x, mean, low, high, dev, sum(len(p) for p in pieces))
        elif main is not None and main["x1"] - main["x0"] > 0.15 * (box[2] - box[0]):
            pts = np.concatenate(pieces)
            notes.append(f"C{i}: no band; the curve is the stroked line's vertices")
            x, y = xaxis.to_data(pts[:, 0]), yaxis.to_data(pts[:, 1])
            series[i] = Series(i, x, y, None, None, None, len(pts))
        else:  # a short stroke without a band: a legend entry only
            handles.append((i, main))
    legend = _legend(handles, labs, box)
    return Figure(xaxis, yaxis, _title(labs, box, "x", used), _title(labs, box, "y", used),
                  series, legend, notes)  # fmt: skip


def _legend(handles, labs, box) -> list:
    """(colour, text) for each legend handle: the text just right of it on its row."""
    out = []
    left, top, right, bottom = box
    inside = [
        lb for lb in labs if abs(lb.angle) < 1 and left < lb.x < right and top < lb.top < bottom
    ]
    for i, h in handles:
        mid = (h["top"] + h["bottom"]) / 2
        row = [lb for lb in inside if abs(lb.top - mid) < 0.6 * lb.em and lb.x0 > h["x1"] - 0.5]
        row = [lb for lb in row if lb.x0 - h["x1"] < 15 * lb.em]
        # In a multi-column legend the next handle on the row ends this entry's text.
        stop = min(
            (o["x0"] for _, o in handles
             if o is not h and o["x0"] > h["x1"] and abs((o["top"] + o["bottom"]) / 2 - mid) < 2),
            default=math.inf,
        )  # fmt: skip
        row = sorted((lb for lb in row if lb.x1 < stop), key=lambda lb: lb.x)
        if row:
            out.append((i, " ".join(lb.text for lb in row)))
    return out
