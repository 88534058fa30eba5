"""Checkpoints, resume, atomic outputs and divergence (issue 8: reliability).

Resumed runs are compared with uninterrupted ones bitwise (``np.array_equal``; the experiment's
``results.npz`` byte for byte). Interruptions are real: a subprocess is SIGKILLed right after its
first checkpoint is on disk (its ``save`` is wrapped to kill the process), then resumed.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import checkpoint, divergence

from helpers import regression_data

ROOT = Path(__file__).resolve().parents[1]


def problem(width=64, dtype=jnp.float32):
    x, y = regression_data(jax.random.key(1), 16, 8, out_dim=2, dtype=dtype)
    return jaxntk.init_params(jax.random.key(0), 8, width, 2, dtype=dtype), x, y


def same(tree_a, tree_b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(tree_a), jax.tree_util.tree_leaves(tree_b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(leaves_a, leaves_b)
    )


class Interrupt(Exception):
    pass


def interrupt_after_first_save(monkeypatch):
    """Make the next ``checkpoint.save`` write its file and then stop the run."""
    real = checkpoint.save

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise Interrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    return lambda: monkeypatch.setattr(checkpoint, "save", real)


# ----------------------------------------------------------------------------- checkpoint files


def test_checkpoint_round_trip_is_exact_and_bytes_are_reproducible(tmp_path):
    # Keys holding "/" and "%" (asym_regression's results are keyed "concrete/step") round-trip.
    tree = {
        "w": np.arange(6.0).reshape(2, 3),
        "history": {"loss": np.float32([1, 2]), "concrete/step": np.int32([0, 5]), "a%2F": 1.0},
    }
    meta = {"config": {"lr": 0.1, "shape": (2, 3)}, "step": 4}
    checkpoint.save(tmp_path / "a.npz", tree, meta)
    checkpoint.save(tmp_path / "b.npz", tree, meta)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded, got = checkpoint.load(tmp_path / "a.npz", {"config": meta["config"]})
    assert same(loaded, tree) and loaded["history"]["loss"].dtype == np.float32
    assert got["step"] == 4 and got["format"] == checkpoint.FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*tmp"))


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"w": np.ones(100)}, {"config": {"lr": 0.1}})
    with pytest.raises(checkpoint.CheckpointError, match="field config.lr: 0.1 .* vs 0.2 now"):
        checkpoint.load(path, {"config": {"lr": 0.2}})
    path.write_bytes(path.read_bytes()[:300])  # truncated mid-write (what atomic writes prevent)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt or truncated.*delete"):
        checkpoint.load(path)


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    checkpoint.atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), checkpoint.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]


# ------------------------------------------------------------------------------ train_masked


def test_train_masked_resumes_bitwise_and_chunks_match_one_run(tmp_path, monkeypatch):
    params, x, y = problem()
    cfg = jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 6)
    key = jax.random.key(3)
    plain = jaxntk.train_masked(key, params, x, y, cfg)
    whole = jaxntk.train_masked(
        key, params, x, y, cfg, checkpoint=tmp_path / "whole.npz", checkpoint_every=3
    )
    # Measured bitwise on CPU (same compiled round, absolute round index); documented as such.
    np.testing.assert_allclose(whole[0]["w"], plain[0]["w"], rtol=1e-6)
    np.testing.assert_allclose(whole[1].loss, plain[1].loss, rtol=1e-6)

    path = tmp_path / "run.npz"
    restore = interrupt_after_first_save(monkeypatch)
    with pytest.raises(Interrupt):
        jaxntk.train_masked(key, params, x, y, cfg, checkpoint=path, checkpoint_every=3)
    restore()
    assert checkpoint.load(path)[1]["done"] == 3
    resumed = jaxntk.train_masked(
        key, params, x, y, cfg, checkpoint=path, checkpoint_every=3, resume=True
    )
    assert same(resumed, whole)
    # another key, or another lr, is another run: its checkpoint is refused by name
    with pytest.raises(jaxntk.CheckpointError, match="field inputs.key"):
        jaxntk.train_masked(
            jax.random.key(4), params, x, y, cfg, checkpoint=path, checkpoint_every=3, resume=True
        )
    other = jaxntk.MaskedConfig(3, 0.5, 2, 0.2, 6)
    with pytest.raises(jaxntk.CheckpointError, match="field config.lr: 0.1 in the checkpoint"):
        jaxntk.train_masked(key, params, x, y, other, checkpoint=path, resume=True)


def test_train_gd_resumes_bitwise_with_momentum(tmp_path, monkeypatch):
    params, x, y = problem()
    cfg = jaxntk.GDConfig(lr=0.3, num_steps=60, log_every=10, momentum=0.5, ntk_points=8)
    whole = jaxntk.train_gd(
        params, x, y, cfg, checkpoint=tmp_path / "whole.npz", checkpoint_every=20
    )
    plain = jaxntk.train_gd(params, x, y, cfg)
    np.testing.assert_allclose(whole[0]["w"], plain[0]["w"], rtol=1e-6)
    np.testing.assert_allclose(whole[1].train_risk, plain[1].train_risk, rtol=1e-6)

    path = tmp_path / "run.npz"
    restore = interrupt_after_first_save(monkeypatch)
    with pytest.raises(Interrupt):
        jaxntk.train_gd(params, x, y, cfg, checkpoint=path, checkpoint_every=20)
    restore()
    resumed = jaxntk.train_gd(params, x, y, cfg, checkpoint=path, checkpoint_every=20, resume=True)
    assert same(resumed, whole)
    with pytest.raises(ValueError, match="checkpoint_every=15 must be a multiple of log_every=10"):
        jaxntk.train_gd(params, x, y, cfg, checkpoint=path, checkpoint_every=15)


def test_gd_pieces_under_vmap_equal_train_gd():
    """start -> advance -> advance -> finish (what the experiments checkpoint) is train_gd."""
    params, x, y = problem()
    cfg = jaxntk.GDConfig(lr=0.3, num_steps=50, log_every=10, ntk_points=8)
    batch = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), params)
    _, expected = jax.vmap(lambda p: jaxntk.train_gd(p, x, y, cfg))(batch)
    carry, first = jax.vmap(lambda p: jaxntk.gd.start(p, x, y, cfg))(batch)
    logs = [jax.tree_util.tree_map(lambda a: a[:, None], first)]
    for first_log, num_logs in ((1, 2), (3, 3)):
        carry, rest = jax.vmap(
            lambda p, c, f=first_log, k=num_logs: jaxntk.gd.advance(p, x, y, cfg, c, f, k)
        )(batch, carry)
        logs.append(rest)
    raw = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a, axis=1), *logs)
    history = jax.vmap(lambda p, h: jaxntk.gd.finish(p, x, cfg, h))(batch, raw)
    for name in ("step", "train_risk", "ntk_min_eig", "ntk_change", "node_movement"):
        np.testing.assert_allclose(getattr(history, name), getattr(expected, name), rtol=1e-6)


_SAME_KEY = """
import sys, jax, jax.numpy as jnp, numpy as np, jaxntk
from jaxntk import checkpoint
from helpers import regression_data
x, y = regression_data(jax.random.key(1), 16, 8, out_dim=2, dtype=jnp.float32)
params = jaxntk.init_params(jax.random.key(0), 8, 64, 2, dtype=jnp.float32)
p, h = jaxntk.train_masked(jax.random.key(3), params, x, y, jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 5))
checkpoint.save_npz(sys.argv[1], {"w": p["w"], **h._asdict()})
"""


def test_same_key_gives_bitwise_equal_results_in_two_processes(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _SAME_KEY, str(tmp_path / f"{i}.npz")], env=env, cwd=ROOT
        )
        for i in range(2)
    ]
    assert [r.wait(timeout=300) for r in runs] == [0, 0]
    assert (tmp_path / "0.npz").read_bytes() == (tmp_path / "1.npz").read_bytes()


# -------------------------------------------------------------------------------- divergence


def test_divergent_lr_stops_with_the_documented_message_and_keeps_the_history():
    params, x, y = problem(dtype=jnp.float64)
    cfg = jaxntk.GDConfig(lr=500.0, num_steps=50, log_every=10, ntk_points=8)
    with pytest.raises(jaxntk.DivergenceError) as info:
        jaxntk.train_gd(params, x, y, cfg)
    err = info.value
    assert err.lr == 500.0 and err.step == 10
    assert err.stable_lr == pytest.approx(divergence.stable_lr(params, x), rel=1e-12)
    message = str(err)
    assert "train_gd diverged at step 10: training risk" in message
    assert "with lr=500" in message and f"try lr < {err.stable_lr:.3g}" in message
    assert err.history.train_risk.shape == (2,) and np.isfinite(err.history.train_risk[0])

    masked = jaxntk.MaskedConfig(1, 1.0, 3, 50.0, 6)
    with pytest.raises(jaxntk.DivergenceError, match=r"train_masked diverged at round \d: loss"):
        jaxntk.train_masked(jax.random.key(0), params, x, y, masked)
    # no check under vmap (a compiled function cannot raise on values); it still runs
    keys = jax.random.split(jax.random.key(0), 2)
    losses = jax.vmap(lambda k: jaxntk.train_masked(k, params, x, y, masked)[1].loss)(keys)
    assert losses.shape == (2, 7)
    # and it can be turned off
    jaxntk.train_masked(jax.random.key(0), params, x, y, masked, divergence_factor=None)


@pytest.mark.parametrize("loss", ["half_sum", "half_mean", "mean"])
def test_stable_lr_is_two_over_the_top_curvature_of_the_linearised_loss(loss):
    """2/(c lambda_max(Theta)) = 2/lambda_max(Hessian in w of L(f_0 + J (w - w_0)))."""
    params, x, y = problem(width=16, dtype=jnp.float64)
    w0 = params["w"]

    def f(w):
        return jaxntk.apply({**params, "w": w}, x)

    jac = jax.jacobian(f)(w0).reshape(-1, w0.size)  # (n C, width d)
    loss_fn = jaxntk.losses.get(loss)

    def linearised(v):
        return loss_fn(f(w0) + (jac @ (v - w0.ravel())).reshape(y.shape), y)

    hessian = jax.hessian(linearised)(w0.ravel())
    expected = 2.0 / np.linalg.eigvalsh(np.asarray(hessian))[-1]
    assert divergence.stable_lr(params, x, loss=loss) == pytest.approx(expected, rel=1e-8)


def test_gd_below_the_bound_converges_and_above_it_grows():
    """Wide network (NTK regime): below the bound the risk falls at every log.

    Between 2/lambda and a few times that a finite network can spike and come back (catapult,
    measured here: up to 2.5x the bound converges, 5x diverges), so far above the bound is
    where the divergence check must fire.
    """
    x, y = regression_data(jax.random.key(1), 8, 4)
    params = jaxntk.init_params(jax.random.key(0), 4, 4096, 1)
    bound = divergence.stable_lr(params, x)

    def risk(factor, **kw):
        cfg = jaxntk.GDConfig(lr=factor * bound, num_steps=100, log_every=10, ntk_points=8)
        return np.asarray(jaxntk.train_gd(params, x, y, cfg, **kw)[1].train_risk)

    below = risk(0.9)
    assert np.all(np.diff(below) < 0) and below[-1] < 1e-8 * below[0]
    with pytest.raises(jaxntk.DivergenceError, match="try lr < "):
        risk(5.0)


# ------------------------------------------------------------------ the experiments' CLI (slow)

_KILLED = """
import os, signal, sys
from jaxntk.experiments import _cli, masked_demo
real = _cli.Stages._save
def save_then_die(self, *args, **kwargs):
    real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
_cli.Stages._save = save_then_die
sys.exit(masked_demo.main(sys.argv[1:]))
"""
DEMO = ["--preset", "smoke", "--num_rounds", "3", "--num_seeds", "1"]


@pytest.mark.experiments
def test_killed_experiment_resumes_to_the_same_results_npz_byte_for_byte(tmp_path):
    from jaxntk.experiments import _cli

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    demo = [sys.executable, "-m", "experiments.masked_demo", *DEMO]
    whole = subprocess.Popen([*demo, "--outdir", str(tmp_path / "whole")], env=env)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, *DEMO, "--outdir", str(tmp_path / "run")], env=env
    )
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    assert [p.name for p in run.iterdir()] == ["checkpoint"]
    assert [p.name for p in (run / "checkpoint").iterdir()] == ["method_0.npz"]
    with pytest.raises(ValueError, match="pass --resume to continue it"):
        _cli.check_outdir(run, resume=False, overwrite=False)
    subprocess.run([*demo, "--outdir", str(run), "--resume"], env=env, check=True)
    assert whole.wait(timeout=600) == 0
    assert (run / "results.npz").read_bytes() == (tmp_path / "whole" / "results.npz").read_bytes()
    assert not (run / "checkpoint").exists()  # removed once the outputs are written


@pytest.mark.experiments
def test_a_finished_result_is_not_overwritten_without_overwrite(tmp_path, capsys):
    from jaxntk.experiments import _cli, masked_demo

    for name in _cli.OUTPUT_FILES:
        (tmp_path / name).write_text(f"finished {name}")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    with pytest.raises(SystemExit) as info:
        masked_demo.main(["--preset", "smoke", "--outdir", str(tmp_path)])
    assert info.value.code == 2
    assert "already holds a finished result" in capsys.readouterr().err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before
    assert json.loads(json.dumps(sorted(before))) == sorted(_cli.OUTPUT_FILES)


@pytest.mark.experiments
def test_gd_stages_checkpoint_every_n_steps_and_resume_bitwise(tmp_path, monkeypatch):
    """``--checkpoint-every``: the asymmetric scripts save a GD stage's progress every N steps."""
    from jaxntk.experiments import _cli, asym_simulated

    script, cfg = asym_simulated.SCRIPT, asym_simulated.PRESETS["smoke"]
    _cli.execute(script, cfg, tmp_path / "whole", verbose=False, checkpoint_every=100)
    real = checkpoint.save

    def stop_after_progress(path, tree, meta):
        real(path, tree, meta)
        if "done" in meta:  # a progress checkpoint (jaxntk.runner: units done), not a stage
            raise Interrupt

    monkeypatch.setattr(checkpoint, "save", stop_after_progress)
    with pytest.raises(Interrupt):
        _cli.execute(script, cfg, tmp_path / "run", verbose=False, checkpoint_every=100)
    monkeypatch.setattr(checkpoint, "save", real)
    progress = list((tmp_path / "run" / _cli.CHECKPOINT_DIR).glob("*.progress.npz"))
    assert len(progress) == 1 and checkpoint.load(progress[0])[1]["done"] == 2  # logs 50, 100
    with pytest.raises(jaxntk.CheckpointError, match="field checkpoint_every: 100"):
        _cli.execute(script, cfg, tmp_path / "run", verbose=False, resume=True)
    _cli.execute(script, cfg, tmp_path / "run", verbose=False, resume=True, checkpoint_every=100)
    whole, run = (tmp_path / d / "results.npz" for d in ("whole", "run"))
    assert run.read_bytes() == whole.read_bytes()
