"""Resume and atomic outputs, through the trainers and the experiments' CLI.

The checkpoint files themselves: test_checkpoint.py; divergence: test_divergence.py.

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
from jaxntk import checkpoint

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


# ------------------------------------------------------------------ the experiments' CLI (slow)

_KILLED = """
import os, signal, sys
from jaxntk.experiments import _cli, masked_demo, asym_simulated
# every file is committed by os.replace (jaxntk.checkpoint): die at the KILL_AT-th, before its
# rename (the temporary file written, the target not yet replaced) or after it
at, when = int(os.environ["KILL_AT"]), os.environ["KILL_WHEN"]
real, calls = os.replace, [0]
def replace_then_die(*args, **kwargs):
    calls[0] += 1
    if calls[0] == at and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(*args, **kwargs)
    if calls[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace_then_die
script = {"masked_demo": masked_demo, "asym_simulated": asym_simulated}[sys.argv[1]]
sys.exit(script.main(sys.argv[2:]))
"""
DEMO = ["--preset", "smoke", "--num_rounds", "3", "--num_seeds", "1"]
# A multi-stage masked run (5 stages, then the outputs: 12 renames in all) and a GD run
# checkpointed inside its stages (2 configurations x 4 chunks of 50 steps).
FAULT_RUNS = {
    "masked_demo": DEMO,
    "asym_simulated": ["--preset", "smoke", "--checkpoint-every", "50", "--companion", "false"],
}
# (run, the rename to die at, before/after it): a few fixed points (the first stage, the last
# stage's, among the outputs) and points drawn with seeds 0-2 over all the run's renames.
_RNG = np.random.default_rng(0)
FAULTS = [
    ("masked_demo", 1, "after"),
    ("masked_demo", 6, "before"),
    ("masked_demo", 9, "before"),
    ("asym_simulated", 3, "after"),
    *[("masked_demo", int(_RNG.integers(1, 13)), w) for w in ("before", "after")],
    ("asym_simulated", int(_RNG.integers(1, 10)), "before"),
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Each fault run uninterrupted, and the environment every run shares (an XLA cache)."""
    tmp = tmp_path_factory.mktemp("whole")
    # The runs compile the same programs: the whole run first, the others load them from this
    # test's own XLA cache (the same executables; that compiling is deterministic is
    # test_same_key_gives_bitwise_equal_results_in_two_processes' subject, which has no cache).
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JAX_COMPILATION_CACHE_DIR": str(tmp / "xla_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    whole = {}
    for name, args in FAULT_RUNS.items():
        out = tmp / name
        cmd = [sys.executable, "-m", f"experiments.{name}", *args, "--outdir", str(out)]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        whole[name] = (out / "results.npz").read_bytes()
    assert any((tmp / "xla_cache").iterdir())  # the cache is in use
    return whole, env


@pytest.mark.experiments
@pytest.mark.parametrize(("name", "at", "when"), FAULTS, ids=[f"{n}-{w}{a}" for n, a, w in FAULTS])
def test_killed_experiment_resumes_to_the_same_results_npz_byte_for_byte(
    uninterrupted, tmp_path, name, at, when
):
    from jaxntk.experiments import _cli, _outdir

    whole, env = uninterrupted
    run = tmp_path / "run"
    args = [*FAULT_RUNS[name], "--outdir", str(run)]
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, name, *args],
        env={**env, "KILL_AT": str(at), "KILL_WHEN": when}, capture_output=True,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    # the lock file a killed holder leaves blocks nothing (test_reliability_io)
    assert _outdir.LOCK_FILE in {p.name for p in run.iterdir()}
    if (run / "checkpoint").exists():
        with pytest.raises(ValueError, match="pass --resume to continue it"):
            _cli.check_outdir(run, resume=False, overwrite=False)
    cmd = [sys.executable, "-m", f"experiments.{name}", *args, "--resume"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert (run / "results.npz").read_bytes() == whole[name]
    assert not (run / "checkpoint").exists()  # removed once the outputs are written
    assert not list(run.glob(".*.tmp"))  # a killed write's temporary file is cleaned up


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

    def compiled():  # sweep_gd's programs built so far (one set per GDConfig and mesh)
        return jaxntk.gd_sweep._programs.cache_info().misses

    _cli.execute(script, cfg, tmp_path / "whole", verbose=False, checkpoint_every=100)
    after = compiled()
    assert after >= 1  # the stages ran on these programs
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
    # The GD programs are built once per GDConfig: the second and third runs of the same
    # configurations build none (a jit defined per call compiled them again each time).
    assert compiled() == after
