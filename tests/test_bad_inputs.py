"""The bad-input table (README, "Reliability"): each bad input gets a clear error from our checks.

Every case asserts the message names the argument and the fix, and that the exception was raised
by jaxntk's or the experiments' own validation (the last traceback frame is in ``jaxntk/`` or
``experiments/``, not inside JAX). The CLI cases also assert that nothing was written.
``tests/test_validation.py`` holds the earlier configuration/shape/dtype/NaN cases; they are
re-checked here for where they are raised, not repeated.
"""

import dataclasses
import importlib
import math
import os
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_validation

import jaxntk
from jaxntk import data, ntk, scaling

ROOT = Path(__file__).resolve().parents[1]


def assert_ours(excinfo):
    """The exception was raised in jaxntk/ or experiments/ (our validation), not inside JAX."""
    last = Path(str(excinfo.traceback[-1].path)).resolve()
    assert any(last.is_relative_to(ROOT / d) for d in ("jaxntk", "experiments")), last


def problem(dtype=jnp.float64):
    params = jaxntk.init_params(jax.random.key(0), 3, 8, 2, dtype=dtype)
    x = jnp.ones((5, 3), dtype) / math.sqrt(3)
    return params, x, jnp.zeros((5, 2), dtype)


MASKED = jaxntk.MaskedConfig(2, 0.5, 1, 0.1, 2)
GD = jaxntk.GDConfig(lr=0.1, num_steps=4, log_every=2, ntk_points=5)


def _masked(**kw):
    params, x, y = problem()
    return jaxntk.train_masked(jax.random.key(0), params, x, y, MASKED, **kw)


def _gd(cfg=GD, **kw):
    params, x, y = problem()
    return jaxntk.train_gd(params, x, y, cfg, **kw)


def _saved_elsewhere(tmp_path, corrupt: bool):
    path = tmp_path / "ckpt.npz"
    _gd(checkpoint=path)
    if corrupt:
        path.write_bytes(path.read_bytes()[:200])
    return path


# (name, call(tmp_path), message regex). Each is a distinct bad input of the public API.
API_CASES = [
    (
        "gamma > 1",
        lambda t: scaling.node_scales(None, 8, gamma=1.5),
        r"gamma must be a number in \[0, 1\]",
    ),
    (
        "alpha >= 1",
        lambda t: scaling.node_scales(None, 8, gamma=0.5, alpha=1.2),
        r"needs 0 < alpha < 1",
    ),
    (
        "alpha for a kind without one",
        lambda t: scaling.node_scales(None, 8, gamma=0.5, kind="iid", alpha=0.5),
        r"kind='iid' takes no alpha",
    ),
    (
        "unknown scaling kind",
        lambda t: scaling.node_scales(None, 8, gamma=0.5, kind="pareto"),
        r"unknown kind 'pareto'; choose one of",
    ),
    (
        "width 0 of node scales",
        lambda t: scaling.node_scales(None, 0, gamma=0.5),
        r"width must be an integer >= 1",
    ),
    (
        "unknown NTK backend",
        lambda t: ntk.empirical(problem()[0], problem()[1], backend="jax"),
        r"unknown backend 'jax'; choose one of",
    ),
    (
        "unknown data set",
        lambda t: data.load("imagenet"),
        r"unknown data set 'imagenet'; choose one of",
    ),
    ("unknown round path", lambda t: _masked(path="fast"), r"unknown path 'fast'; choose one of"),
    (
        "GD lr <= 0",
        lambda t: jaxntk.GDConfig(lr=-1.0, num_steps=4),
        r"lr must be a finite number > 0",
    ),
    (
        "GD steps off the log grid",
        lambda t: jaxntk.GDConfig(lr=0.1, num_steps=5, log_every=2),
        r"num_steps=5 must be a multiple of log_every=2",
    ),
    (
        "GD momentum 1",
        lambda t: jaxntk.GDConfig(lr=0.1, num_steps=4, log_every=2, momentum=1.0),
        r"momentum must be in \[0, 1\)",
    ),
    (
        "ntk_points > n",
        lambda t: _gd(jaxntk.GDConfig(lr=0.1, num_steps=4, log_every=2, ntk_points=50)),
        r"ntk_points=50 exceeds the 5 training points",
    ),
    (
        "x_test without y_test",
        lambda t: _gd(x_test=problem()[1]),
        r"pass both x_test and y_test, or neither",
    ),
    (
        "GD cfg of the wrong type",
        lambda t: jaxntk.train_gd(*problem(), MASKED),
        r"cfg must be a jaxntk.GDConfig",
    ),
    (
        "checkpoint_every without checkpoint",
        lambda t: _masked(checkpoint_every=1),
        r"checkpoint_every and resume need checkpoint=PATH",
    ),
    (
        "checkpoint_every 0",
        lambda t: _masked(checkpoint=t / "c.npz", checkpoint_every=0),
        r"checkpoint_every must be an integer >= 1",
    ),
    ("checkpoint not a path", lambda t: _masked(checkpoint=3), r"checkpoint must be a file path"),
    (
        "checkpoint_every off the log grid",
        lambda t: _gd(checkpoint=t / "c.npz", checkpoint_every=3),
        r"checkpoint_every=3 must be a multiple of log_every=2",
    ),
    (
        "divergence_factor <= 1",
        lambda t: _masked(divergence_factor=0.5),
        r"divergence_factor must be > 1 .* or None",
    ),
    ("mesh not a Mesh", lambda t: _masked(mesh="cpu"), r"mesh must be a jax.sharding.Mesh or None"),
    (
        "corrupt checkpoint",
        lambda t: _gd(checkpoint=_saved_elsewhere(t, True), resume=True),
        r"is corrupt or truncated .*delete",
    ),
    (
        "checkpoint of another config",
        lambda t: _gd(
            jaxntk.GDConfig(lr=0.2, num_steps=4, log_every=2, ntk_points=5),
            checkpoint=_saved_elsewhere(t, False),
            resume=True,
        ),
        r"different configuration \(field config.lr: 0.1 in the checkpoint vs 0.2 now\)",
    ),
    (
        "checkpoint of other data",
        lambda t: jaxntk.train_gd(
            problem()[0],
            problem()[1],
            problem()[2] + 1.0,
            GD,
            checkpoint=_saved_elsewhere(t, False),
            resume=True,
        ),
        r"field inputs.y",
    ),
]


# sweep_masked checks every cell as train_masked checks its one value (issue 26, mechanism 4).
KEYS = jax.random.split(jax.random.key(1), 2)


def _sweep(params=None, **kw):
    p, x, y = problem()
    return jaxntk.sweep_masked(kw.pop("keys", KEYS), p if params is None else params, x, y,
                               kw.pop("cfg", MASKED), **kw)  # fmt: skip


def _features(tmp_path, options=(), **arrays):
    """data.load("features") of an .npz holding ``arrays`` (10 rows of 3 features, 3 classes)."""
    path = tmp_path / "F.npz"
    np.savez(path, **{"features": np.ones((10, 3)), "labels": np.arange(10) % 3, **arrays})
    return data.load("features", path=path, **dict(options))


NAN = float("nan")
API_CASES += [
    (
        "sweep num_subnets not integers",
        lambda t: _sweep(num_subnets=[1.5, 2]),
        r"num_subnets must be an integer >= 1, got 1.5 \(cell 0 of the grid\)",
    ),
    (
        "sweep keep_prob NaN",
        lambda t: _sweep(keep_prob=[NAN, 0.5]),
        r"keep_prob must be a probability in \(0, 1\], got nan \(cell 0 of the grid\)",
    ),
    (
        "sweep lr inf",
        lambda t: _sweep(lr=[0.1, float("inf")]),
        r"lr must be a finite number > 0, got inf \(cell 1 of the grid\)",
    ),
    ("sweep empty grid", lambda t: _sweep(num_subnets=[]), r"num_subnets holds no cells"),
    ("sweep zero keys", lambda t: _sweep(keys=KEYS[:0]), r"keys is empty: pass at least one key"),
    (
        "sweep one number for a per-cell argument",
        lambda t: _sweep(keep_prob=0.5),
        r"keep_prob must be one value per cell",
    ),
    (
        "sweep per-cell lengths disagree",
        lambda t: _sweep(num_subnets=[1, 2], lr=[0.1]),
        r"need one entry per cell; got num_subnets has 2, lr has 1",
    ),
    (
        "sweep params for another number of keys",
        lambda t: _sweep(
            jax.vmap(lambda k: jaxntk.init_params(k, 3, 8, 2, dtype=jnp.float64))(
                jax.random.split(jax.random.key(0), 3)
            )
        ),
        r"params\['w'\] must have shape \(2, width, in_dim\), got shape \(3, 8, 3\)",
    ),
    ("sweep pad a string", lambda t: _sweep(pad="no"), r"pad must be True or False, got 'no'"),
    (
        "GD record_ntk a string",
        lambda t: jaxntk.GDConfig(lr=0.1, num_steps=4, log_every=2, record_ntk="no"),
        r"record_ntk must be True or False, got 'no' \(a string",
    ),
    (
        "transfer standardize_features a string",
        lambda t: _entry("transfer_curve", standardize_features="no"),
        r"standardize_features must be True or False, got 'no'",
    ),
    (
        "prune counts empty",
        lambda t: jaxntk.prune_curve(*problem()[:1], None, *problem()[1:], []),
        r"counts must be a non-empty 1-D array of integers",
    ),
    # Data are checked where they are loaded (mechanism 5): file and key named.
    (
        "feature file with a NaN label",
        lambda t: _features(t, labels=np.r_[NAN, np.ones(9)]),
        r"F.npz: 'labels' holds NaN/inf in 1 row\(s\)",
    ),
    (
        "feature file with inf in its test features",
        lambda t: _features(t, features_test=np.full((2, 3), np.inf), labels_test=np.zeros(2, int)),
        r"F.npz: 'features_test' holds NaN/inf in 2 row\(s\)",
    ),
    (
        "feature file with negative class labels",
        lambda t: _features(t, labels=-np.arange(1, 11)),
        r"F.npz: 'labels' holds class indices, which must be >= 0 .*got min -10",
    ),
    (
        "feature file of one row",
        lambda t: _features(t, features=np.ones((1, 3)), labels=np.zeros(1, int)),
        r"F.npz: test_fraction=0.2 of 1 row\(s\) leaves no test row",
    ),
    (
        "feature file with fewer labels than rows",
        lambda t: _features(t, labels=np.zeros(9, int)),
        r"F.npz: 'features' has 10 rows but 'labels' has 9",
    ),
    (
        "feature file with text features",
        lambda t: _features(t, features=np.full((10, 3), "a")),
        r"F.npz: 'features' must hold real numbers",
    ),
    (
        "feature file with features_test but no labels_test",
        lambda t: _features(t, features_test=np.ones((2, 3))),
        r"needs both 'features_test' and 'labels_test'",
    ),
    (
        "feature file overflowing float32",
        lambda t: _features(t, features=np.full((10, 3), 1e39)),
        r"data set 'features': x_train holds NaN/inf in 8 row\(s\).*larger dtype",
    ),
    (
        "feature file, n=0",
        lambda t: _features(t, options={"n": 0}),
        r"n must be an integer >= 1, got 0",
    ),
    (
        "feature file, test_fraction NaN",
        lambda t: _features(t, options={"test_fraction": NAN}),
        r"test_fraction must be in \[0, 1\), got nan",
    ),
    # Messages that name the argument at fault (mechanism 7).
    (
        "UCI split fractions NaN",
        lambda t: data.load("concrete", fractions=(0.4, NAN, 0.2)),
        r"fractions\[1\] \(the transfer share\) must be in \[0, 1\], got nan",
    ),
    (
        "UCI standardize a string",
        lambda t: data.load("concrete", standardize="no"),
        r"standardize must be True or False, got 'no'",
    ),
    (
        "synthetic train split of 0 rows",
        lambda t: data.load("sphere", jax.random.key(0), n=0, n_test=5),
        r"n must be an integer >= 1, got 0",
    ),
    (
        "one-hot of negative labels",
        lambda t: data.images.one_hot(np.array([-2, 1]), 3),
        r"labels must be class indices 0..2 \(num_classes=3\), got values from -2 to 1",
    ),
]


# One concept, one check, every entry (mechanism 4): each bad network or node scale is given to
# every public trainer/evaluator that takes it, and each names the same argument.
ENTRIES = ("train_masked", "train_gd", "sweep_masked", "prune_curve", "transfer_curve")


def _entry(name, params=None, node_scale=None, **kw):
    p, x, y = problem()
    p = p if params is None else params
    if name == "train_masked":
        return jaxntk.train_masked(jax.random.key(0), p, x, y, MASKED, node_scale=node_scale)
    if name == "train_gd":
        return jaxntk.train_gd(p, x, y, GD, node_scale=node_scale)
    if name == "sweep_masked":  # one cell: its node scale is a (1, width) grid
        return _sweep(p, node_scale=None if node_scale is None else node_scale[None])
    if name == "prune_curve":
        return jaxntk.prune_curve(p, node_scale, x, y, [0, 1])
    return jaxntk.transfer_curve(jax.random.key(0), p, node_scale, x, y, x, y, [1, 2], **kw)


def _good():
    return problem()[0]


CONCEPT_CASES = [
    (
        "params['a'] of another width",
        dict(params=lambda: {**_good(), "a": _good()["a"][:7]}),
        r"params\['a'\] must have shape \((2, )?width, out_dim\) .*width = 8",
    ),
    (
        "params without 'a'",
        dict(params=lambda: {"w": _good()["w"], "out_scale": _good()["out_scale"]}),
        r"params must be the dict jaxntk.init_params returns",
    ),
    (
        "params['w'] holding NaN",
        dict(params=lambda: {**_good(), "w": _good()["w"].at[0, 0].set(jnp.nan)}),
        r"params\['w'\] holds \d+ NaN/inf",
    ),
    (
        "node_scale all NaN",
        dict(node_scale=lambda: jnp.full(8, jnp.nan, jnp.float64)),
        r"node_scale holds 8 NaN/inf",
    ),
    (
        "node_scale of another width",
        dict(node_scale=lambda: jnp.ones(7, jnp.float64)),
        r"node_scale must have shape \((cells, )?width,?\) = \((1, )?8,?\)",
    ),
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("name", "change", "message"), CONCEPT_CASES, ids=[c[0] for c in CONCEPT_CASES]
)
def test_every_entry_checks_a_concept_alike(entry, name, change, message):
    with pytest.raises(ValueError, match=message) as info:
        _entry(entry, **{k: make() for k, make in change.items()})
    assert_ours(info)


@pytest.mark.parametrize(("name", "call", "message"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_input(tmp_path, name, call, message):
    with pytest.raises(ValueError, match=message) as info:
        call(tmp_path)
    assert_ours(info)


def test_checkpoint_inside_jit_is_refused(tmp_path):
    params, x, y = problem()
    with pytest.raises(ValueError, match="cannot be used inside jax.jit/jax.vmap") as info:
        jax.jit(
            lambda w: jaxntk.train_masked(
                jax.random.key(0), {**params, "w": w}, x, y, MASKED, checkpoint=tmp_path / "c"
            )
        )(params["w"])
    assert_ours(info)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "case",
    [("config", c) for c in test_validation.CONFIG_CASES[:4]]
    + [("data", c) for c in list(test_validation._bad_data(*test_validation.good_problem()))],
    ids=lambda c: str(c[1][0] if c[0] == "config" else c[1]),
)
def test_earlier_validation_cases_are_raised_by_our_checks(case):
    """test_validation's cases (keep_prob, NaN/inf, empty data, shapes, dtypes): origin only."""
    kind, value = case
    if kind == "config":
        fields = dict(num_subnets=2, keep_prob=0.5, local_steps=1, lr=0.1, num_rounds=1)
        with pytest.raises(ValueError) as info:
            jaxntk.MaskedConfig(**(fields | value[0]))
    else:
        params, x, y = test_validation.good_problem()
        bad_x, bad_y, _ = test_validation._bad_data(params, x, y)[value]
        with pytest.raises(ValueError) as info:
            jaxntk.train_masked(jax.random.key(0), params, bad_x, bad_y, MASKED)
    assert_ours(info)


# ----------------------------------------------------------------------------------- the CLIs

CLI_CASES = [
    ("width 0", ["--width", "0"], r"width must be an integer >= 1, got 0"),
    (
        "keep_prob > 1",
        ["--keep_prob", "1.5"],
        r"keep_prob must be a probability in \(0, 1\], got 1.5",
    ),
    ("negative lr", ["--lr", "-1"], r"lr must be a finite number > 0"),
    ("negative local_steps", ["--local_steps", "-1"], r"local_steps must be an integer >= 0"),
    ("negative num_rounds", ["--num_rounds", "-1"], r"num_rounds must be an integer >= 0"),
]


@pytest.mark.experiments
@pytest.mark.parametrize(("name", "args", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_values_exit_with_the_message_and_write_nothing(tmp_path, name, args, message):
    from jaxntk.experiments import masked_demo

    outdir = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        masked_demo.main(["--preset", "smoke", "--outdir", str(outdir), *args])
    assert "python -m experiments.masked_demo: error:" in str(info.value.code)
    assert re.search(message, str(info.value.code))
    assert not outdir.exists()


CLI_FLAG_CASES = [
    (
        "unknown preset",
        lambda t: ["--preset", "huge"],
        r"argument --preset: invalid choice: 'huge'",
    ),
    (
        "non-integer width",
        lambda t: ["--width", "wide"],
        r"argument --width: invalid int value: 'wide'",
    ),
    (
        "unwritable --outdir",
        lambda t: ["--outdir", str(_a_file(t) / "out")],
        r"--outdir .* cannot be created: .* is a file; pass a writable folder",
    ),
    (
        "--outdir is a file",
        lambda t: ["--outdir", str(_a_file(t))],
        r"--outdir .* is a file, not a folder",
    ),
    (
        "--checkpoint-every 0",
        lambda t: ["--outdir", str(t / "o"), "--checkpoint-every", "0"],
        r"--checkpoint-every must be a number of steps >= 1, got 0",
    ),
    (
        "--resume with --overwrite",
        lambda t: ["--outdir", str(t / "o"), "--resume", "--overwrite"],
        r"--resume and --overwrite exclude each other",
    ),
    (
        "--stall-timeout -1",
        lambda t: ["--outdir", str(t / "o"), "--stall-timeout", "-1"],
        r"--stall-timeout must be a number of seconds >= 0 \(0 is off\), got -1",
    ),
]


def _a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


@pytest.mark.experiments
@pytest.mark.parametrize(
    ("name", "args", "message"), CLI_FLAG_CASES, ids=[c[0] for c in CLI_FLAG_CASES]
)
def test_bad_cli_flags_are_refused_before_any_work(tmp_path, capsys, name, args, message):
    from jaxntk.experiments import masked_demo

    argv = ["--preset", "smoke", *args(tmp_path)]
    with pytest.raises(SystemExit) as info:
        masked_demo.main(argv)
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["a_file"])


@pytest.mark.experiments
def test_unknown_dataset_and_loss_names_on_the_cli(tmp_path):
    from jaxntk.experiments import asym_mnist, asym_simulated, masked_fig2b

    with pytest.raises(SystemExit, match=r"unknown data set 'nope'; choose one of"):
        asym_mnist.main(["--preset", "smoke", "--dataset", "nope", "--outdir", str(tmp_path / "a")])
    smoke = ["--preset", "smoke", "--outdir"]
    with pytest.raises(SystemExit, match=r"protocol='nope' is not available here; pass --protocol"):
        masked_fig2b.main([*smoke, str(tmp_path / "b"), "--protocol", "nope"])
    with pytest.raises(SystemExit, match=r"data=.nope. is not one of .*; pass --data"):
        masked_fig2b.main([*smoke, str(tmp_path / "c"), "--data", "nope"])
    with pytest.raises(
        SystemExit, match=r"--checkpoint-every 30 must be a multiple of log_every=50"
    ):
        asym_simulated.main(
            ["--preset", "smoke", "--checkpoint-every", "30", "--outdir", str(tmp_path / "c")]
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.experiments
def test_resume_from_a_checkpoint_of_another_config_is_refused(tmp_path):
    from jaxntk.experiments import _cli, masked_demo

    cfg = masked_demo.PRESETS["smoke"]
    stages = _cli.Stages(
        tmp_path / _cli.CHECKPOINT_DIR, _cli.fingerprint(masked_demo.SCRIPT, cfg), False
    )
    stages.run("method_0", lambda: {"loss": np.zeros(3)})
    before = sorted(p.name for p in (tmp_path / _cli.CHECKPOINT_DIR).iterdir())
    with pytest.raises(
        SystemExit,
        match=r"different configuration \(field config.seed: 0 in the checkpoint vs 5 now\)",
    ):
        masked_demo.main(
            ["--preset", "smoke", "--seed", "5", "--outdir", str(tmp_path), "--resume"]
        )
    assert sorted(p.name for p in (tmp_path / _cli.CHECKPOINT_DIR).iterdir()) == before


@pytest.mark.experiments
def test_every_config_field_is_a_flag_tuples_included(tmp_path):
    from jaxntk.experiments import _cli, asym_regression, masked_fig2b

    out = ["--outdir", str(tmp_path / "o")]
    cfg = _cli.parse(
        ["--keep-probs", "0.3, 0.5,1", "--subnets", "1,4", "--num_rounds", "7", *out],
        "masked_fig2b", masked_fig2b.PRESETS,
    ).cfg  # fmt: skip
    assert cfg.keep_probs == (0.3, 0.5, 1.0) and all(type(v) is float for v in cfg.keep_probs)
    assert cfg.subnets == (1, 4) and cfg.num_rounds == 7
    assert cfg.width == masked_fig2b.PRESETS["quick"].width  # the rest is the preset's
    args = ["--preset", "smoke", "--gammas", "1:0,0.5:0.7", "--ks", "", "--head_hidden", "32",
            "--data-options", "n:500,name:x", *out]  # fmt: skip
    cfg = _cli.parse(args, "asym_regression", asym_regression.PRESETS).cfg
    assert cfg.gammas == ((1.0, 0.0), (0.5, 0.7)) and cfg.ks == () and cfg.head_hidden == (32,)
    assert cfg.data_options == (("n", 500), ("name", "x"))
    # every field of every script has a flag (the parser knows each as a destination)
    from jaxntk.experiments import reproduce

    for name in reproduce.EXPERIMENTS:
        script = importlib.import_module(f"jaxntk.experiments.{name}").SCRIPT
        parser = _cli.parser_for(name, script.presets)
        dests = {a.dest for a in parser._actions}
        assert {f.name for f in dataclasses.fields(script.presets["quick"])} <= dests, name


BAD_TUPLES = [
    (["--keep_probs", "0.3,x"], r"argument --keep_probs/--keep-probs: '0.3,x' does not fit "
     r"keep_probs: .*; write it like --keep_probs 0.1,0.2,"),
    (["--subnets", "1.5"], r"'1.5' does not fit subnets: .*; write it like --subnets 1,2,3"),
    (["--gammas", "1:0,0.5"], r"item '0.5' is not two values joined by ':'; write it like "
     r"--gammas 1.0:0.0,0.5:0.7"),
    (["--companion", "maybe"], r"'maybe' is not true or false"),
]  # fmt: skip


@pytest.mark.experiments
@pytest.mark.parametrize(("args", "message"), BAD_TUPLES, ids=[a[0] for a, _ in BAD_TUPLES])
def test_a_tuple_that_does_not_fit_is_refused_with_its_form(tmp_path, capsys, args, message):
    from jaxntk.experiments import asym_simulated, masked_fig2b

    module = asym_simulated if args[0] in ("--gammas", "--companion") else masked_fig2b
    with pytest.raises(SystemExit) as info:
        module.main([*args, "--outdir", str(tmp_path / "o")])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.experiments
def test_untyped_boolean_words_are_booleans_on_the_cli(tmp_path):
    """--data_options items have no declared type: true/false/yes/no are booleans (a string
    "no" would switch an option on), and another word reaches the option's own check."""
    from jaxntk.experiments import _cli, asym_regression

    out = ["--outdir", str(tmp_path / "o")]
    words = "standardize:no,a:Yes,b:false,c:1,d:text"
    cfg = _cli.parse(["--data-options", words, *out], "asym_regression", asym_regression.PRESETS)
    options = dict(cfg.cfg.data_options)
    assert options == {"standardize": False, "a": True, "b": False, "c": 1, "d": "text"}
    assert type(options["standardize"]) is bool
    with pytest.raises(SystemExit, match=r"standardize must be True or False, got 'maybe'"):
        asym_regression.main(["--preset", "smoke", "--data-options", "standardize:maybe", *out])


@pytest.mark.experiments
def test_an_untyped_item_refuses_a_non_finite_number():
    # "nan" reads as a float: refused like a float flag's, not passed on as the text "nan"
    from jaxntk.experiments import _cli, asym_regression

    with pytest.raises(ValueError, match="'nan' is not a finite number"):
        _cli.field_value(asym_regression.PRESETS, "data_options", "noise:nan")
    assert _cli.field_value(asym_regression.PRESETS, "data_options", "n:500") == (("n", 500),)
