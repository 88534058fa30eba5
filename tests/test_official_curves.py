"""The digitizer (experiments._digitize) on PDFs drawn here from known arrays."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from experiments import _digitize

STEPS = np.arange(1000, 100_001, 1000, dtype=float)  # the official x: every 1000th GD step


def _pdf(draw, **subplots) -> bytes:
    fig = Figure(figsize=(6.4, 4.8))
    axes = fig.subplots(**subplots)
    draw(fig, axes)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", bbox_inches="tight")
    return buf.getvalue()


def _curves(n: int = 4, x=STEPS, scale: float = 1.0):
    """n known (mean, sd) curves on ``x``: distinct shapes, sd varying along x."""
    t = (x - x[0]) / (x[-1] - x[0])
    out = []
    for i in range(n):
        mean = scale * (1 + i) * (1 + np.sqrt(t) + 0.1 * np.sin(7 * t + i))
        out.append((mean, scale * (0.05 + 0.1 * t) * (1 + i)))
    return out


def _band_plot(ax, x, curves, labels=None):
    for i, (mean, sd) in enumerate(curves):
        ax.fill_between(x, mean - sd, mean + sd, alpha=0.2)  # C{i}, as the official notebooks
        ax.plot(x, mean, label=None if labels is None else labels[i])


def _assert_recovered(fig, x, curves):
    xspan = np.ptp(fig.xaxis.lim)
    yspan = np.ptp(fig.yaxis.lim)
    assert sorted(fig.series) == list(range(len(curves)))
    for i, (mean, sd) in enumerate(curves):
        s = fig.series[i]
        assert len(s.x) == len(x)
        assert np.max(np.abs(s.x - x)) < 1e-3 * xspan
        for got, want in ((s.mean, mean), (s.low, mean - sd), (s.high, mean + sd)):
            assert np.max(np.abs(got - want)) < 1e-3 * yspan
        assert s.line_deviation < 1e-3


# ----------------------------------------------------------------------------------------------
# The digitizer on figures with known data


def test_linear_axes_bands_and_the_x_offset_text_are_recovered():
    curves = _curves()

    def draw(fig, ax):
        _band_plot(ax, STEPS, curves)
        ax.set(xlabel="Iterations", ylabel="Test risk")
        ax.ticklabel_format(style="sci", axis="x", scilimits=(0, 2))  # as the notebooks: "1e5"

    fig = _digitize.digitize(_digitize.read_pdf(_pdf(draw)))
    assert fig.xaxis.offset_text == "1e5"
    assert (fig.xaxis.scale, fig.yaxis.scale) == ("linear", "linear")
    assert (fig.xlabel, fig.ylabel) == ("Iterations", "Test risk")
    assert fig.xaxis.residual < 1e-6 and fig.yaxis.residual < 1e-6
    _assert_recovered(fig, STEPS, curves)


def test_a_log_y_axis_is_recovered():
    x = np.arange(1, 51, dtype=float)
    curves = [(m, 0.3 * m) for m in (1e-4 * np.exp(x / 8), 3e-3 * np.exp(-x / 30))]

    def draw(fig, ax):
        _band_plot(ax, x, curves)
        ax.set_yscale("log")

    fig = _digitize.digitize(_digitize.read_pdf(_pdf(draw)))
    assert fig.yaxis.scale == "log"
    assert any(v == 1e-3 for _, v in fig.yaxis.ticks)  # a "10^{-3}" label read as 1e-3
    decades = np.log10(fig.yaxis.lim[1] / fig.yaxis.lim[0])
    for i, (mean, sd) in enumerate(curves):
        s = fig.series[i]
        for got, want in ((s.mean, mean), (s.low, mean - sd), (s.high, mean + sd)):
            assert np.max(np.abs(np.log10(got / want))) < 1e-3 * decades


def test_rotated_tick_labels_as_in_the_official_min_eigenvalue_figures():
    """The official ntkmineig figures rotate the y labels by 45°: they sit a label's length
    below their tick, so they are paired with the marks in order, not by proximity."""
    curves = _curves(scale=1e-3)

    def draw(fig, ax):
        _band_plot(ax, STEPS, curves)
        ax.tick_params(axis="y", labelsize=11, labelrotation=45)
        ax.ticklabel_format(style="sci", axis="x", scilimits=(0, 2))

    fig = _digitize.digitize(_digitize.read_pdf(_pdf(draw)))
    _assert_recovered(fig, STEPS, curves)


@pytest.mark.parametrize(
    "y0, mathtext, offset",
    [(1000.0, False, "1e−3+1e3"), (0.0, True, "×10^{−3}"), (0.0, False, "1e−3")],
)
def test_y_offset_texts_shift_and_scale_the_labels(y0, mathtext, offset):
    x = np.linspace(0.0, 10.0, 21)
    mean, sd = y0 + 1e-3 * (1 + np.sin(x)), 1e-4 * np.ones_like(x)

    def draw(fig, ax):
        _band_plot(ax, x, [(mean, sd)])
        ax.ticklabel_format(axis="y", useMathText=mathtext, style="sci", scilimits=(-2, 2))

    fig = _digitize.digitize(_digitize.read_pdf(_pdf(draw)))
    assert fig.yaxis.offset_text == offset
    _assert_recovered(fig, x, [(mean, sd)])


def test_legend_entries_are_read_with_their_colours():
    labels = [r"$\gamma=1.0$", r"$\alpha=0.7, \gamma=0.5$", r"$\alpha=0.5, \gamma=0.2$"]
    curves = _curves(3)

    def draw(fig, ax):
        _band_plot(ax, STEPS, curves, labels)
        ax.legend()

    fig = _digitize.digitize(_digitize.read_pdf(_pdf(draw)))
    assert fig.legend == [(0, "γ=1.0"), (1, "α=0.7,γ=0.5"), (2, "α=0.5,γ=0.2")]
    _assert_recovered(fig, STEPS, curves)  # the legend's short lines are not the curves


def test_figures_it_cannot_read_are_refused_with_the_reason():
    def two_axes(fig, axes):
        for ax in axes:
            _band_plot(ax, STEPS, _curves(1))

    with pytest.raises(ValueError, match="more than one axes"):
        _digitize.digitize(_digitize.read_pdf(_pdf(two_axes, ncols=2)))

    def same_colour(fig, ax):
        for mean, sd in _curves(2):
            ax.fill_between(STEPS, mean - sd, mean + sd, color="C0", alpha=0.2)

    with pytest.raises(ValueError, match="two filled bands in colour C0"):
        _digitize.digitize(_digitize.read_pdf(_pdf(same_colour)))


@pytest.mark.parametrize(
    "text, value",
    [("0.25", 0.25), ("−3", -3.0), ("10^{−3}", 1e-3), ("2×10^{4}", 2e4), ("1e5", None),
     ("Iterations", None)],
)  # fmt: skip
def test_tick_label_values(text, value):
    assert _digitize.parse_number(text) == value


@pytest.mark.parametrize(
    "text, parsed",
    [("1e5", (1e5, 0.0)), ("1e−3", (1e-3, 0.0)), ("×10^{5}", (1e5, 0.0)), ("+1e3", (1.0, 1e3)),
     ("1e5+2e3", (1e5, 2e3)), ("+10^{3}", (1.0, 1e3)), ("0.5", None), ("Iterations", None)],
)  # fmt: skip
def test_offset_texts(text, parsed):
    assert _digitize.parse_offset(text) == (None if parsed is None else pytest.approx(parsed))
