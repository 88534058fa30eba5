"""Plot helpers (jaxntk.plotting) draw the numbers they are given (no pyplot: no backend set)."""

import numpy as np
from matplotlib.figure import Figure

from jaxntk import plotting


def test_band_is_the_mean_with_one_sd_around_it():
    runs = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 7.0]])
    ax = Figure().subplots()
    assert plotting.plot_band(ax, np.arange(3), runs, label="a") is ax
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [2.0, 3.0, 5.0])
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [1.0, 7.0])  # mean -+ sd: 2 - 1, 5 + 2
    single = Figure().subplots()
    plotting.plot_band(single, np.arange(3), runs[:1])
    assert not single.collections  # one run: no band


def test_local_curves_sit_between_the_rounds():
    local = np.array([[4.0, 3.0], [2.0, 1.5]])  # 2 rounds, 2 local steps
    ax = Figure().subplots()
    plotting.plot_local_curves(ax, local, np.array([4.0, 2.5, 1.0]))
    *per_round, rounds = ax.get_lines()
    assert len(per_round) == 2
    np.testing.assert_allclose(per_round[1].get_xdata(), [1.0, 1.5])
    np.testing.assert_allclose(rounds.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(rounds.get_ydata(), [4.0, 2.5, 1.0])


def test_panel_grid_has_at_most_three_panels_a_row():
    fig, axes = plotting.panel_grid(7)
    assert len(axes) == 7 and all(ax.get_visible() for ax in axes)
    rows = {round(ax.get_position().y0, 3) for ax in axes}
    cols = {round(ax.get_position().x0, 3) for ax in axes}
    assert len(rows) == 3 and len(cols) == 3  # 3 + 3 + 1
    assert sum(not ax.get_visible() for ax in fig.axes) == 2  # the last row's empty cells
    _, (only,) = plotting.panel_grid(1)
    assert only.get_visible()
