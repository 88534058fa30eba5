"""jaxntk.watchdog: a run that stops making progress is stopped with its stacks and resume command.

The stalls are real: a subprocess runs a chunked ``jaxntk.runner`` loop (or an experiment through
its command line) under a 2 s stall timeout and then blocks; it must exit with
``watchdog.EXIT_CODE`` well before the block would end, its stderr holding every thread's stack
(naming the blocked function) and the command that continues the run. Runs that keep making
progress, by heartbeats or by computing, must not be stopped.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxntk import watchdog

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 2.0
BLOCK = 120  # seconds a blocked chunk would sleep: far beyond the bound the tests allow
BOUND = 60  # seconds for a stalled subprocess to be stopped, its start (importing jax) included

# argv: mode, stall timeout, outdir. Chunks 0 and 1 finish (each bumps the heartbeat), then:
# block: chunk 2 sleeps BLOCK s (stopped, exit 3); slow: every chunk sleeps 0.6 s, 8 chunks
# (beats keep it alive); busy: chunk 2 computes for 5 s without a beat (its CPU keeps it alive);
# gil: chunks sleep 0.6 s and chunk 4 sleeps in a C call that holds the GIL (the watchdog thread
# cannot run: faulthandler's backstop stops it, exit 1); gil0: the same in chunk 0, before the
# watchdog thread's first poll.
_CHILD = f"""
import ctypes, sys, time
import jax.numpy as jnp
from jaxntk import runner, watchdog

mode, seconds, outdir = sys.argv[1], float(sys.argv[2]), sys.argv[3]

def blocked_chunk():
    time.sleep({BLOCK})

def gil_held_chunk():
    ctypes.PyDLL(None).sleep({BLOCK})

def busy_chunk():
    end, x = time.perf_counter() + 5, 0
    while time.perf_counter() < end:
        x += 1

def advance(state, first, size):
    if mode in ("slow", "gil"):
        time.sleep(0.6)
    if (mode, first) in (("block", 2), ("busy", 2), ("gil", 4), ("gil0", 0)):
        {{"block": blocked_chunk, "busy": busy_chunk}}.get(mode, gil_held_chunk)()
    return state + size, {{"unit": jnp.arange(size) + first}}

with watchdog.watch(seconds, outdir=outdir, command="python -m experiments.toy --resume"):
    state, logs = runner.run(advance, jnp.zeros(()), 8, every=1, checkpoint=outdir + "/c.npz")
print("finished", int(state), logs["unit"].tolist())
"""


def _child(mode, tmp_path, seconds=TIMEOUT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(watchdog.TIMEOUT_ENV, None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(seconds), str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=BLOCK + 60,
    )  # fmt: skip
    return done, time.perf_counter() - start


def test_a_blocked_chunk_is_stopped_with_every_stack_and_the_resume_command(tmp_path):
    done, seconds = _child("block", tmp_path)
    assert done.returncode == watchdog.EXIT_CODE, done.stderr
    assert seconds < BOUND
    err = done.stderr
    assert "jaxntk watchdog: no progress for 2 s" in err
    assert "last progress" in err and "runner: chunk done, 2/8 units" in err
    assert "Current thread" in err and "Thread 0x" in err  # all threads, the watchdog's too
    assert "in blocked_chunk" in err and "in advance" in err and "in run" in err
    assert err.rstrip().splitlines()[-1] == (
        "jaxntk watchdog: to continue the run: python -m experiments.toy --resume"
    )
    stacks = (tmp_path / watchdog.STACKS_FILE).read_text()
    assert "in blocked_chunk" in stacks and "python -m experiments.toy --resume" in stacks
    assert (tmp_path / "c.npz").is_file()  # the two finished chunks are saved for --resume


@pytest.mark.parametrize("mode", ["slow", "busy"])
def test_a_run_that_makes_progress_is_not_stopped(tmp_path, mode):
    done, seconds = _child(mode, tmp_path)
    assert done.returncode == 0, done.stderr
    assert seconds > 4  # longer than the 2 s timeout: the watchdog had every chance to fire
    assert done.stdout.split("\n")[-2] == f"finished 8 {list(range(8))}"
    assert "jaxntk watchdog" not in done.stderr
    assert not (tmp_path / watchdog.STACKS_FILE).exists()


@pytest.mark.parametrize("mode", ["gil", "gil0"])
def test_a_wedged_gil_is_stopped_by_the_faulthandler_backstop(tmp_path, mode):
    done, seconds = _child(mode, tmp_path)
    assert done.returncode == 1, done.stderr
    assert seconds < BOUND
    assert "Timeout (0:00:04)!" in done.stderr and "in gil_held_chunk" in done.stderr


def test_no_watchdog_at_0(tmp_path):
    with watchdog.watch(0) as dog:
        assert dog is None


def test_the_timeout_comes_from_the_flag_else_the_environment_else_the_default(monkeypatch):
    monkeypatch.delenv(watchdog.TIMEOUT_ENV, raising=False)
    assert watchdog.timeout() == watchdog.DEFAULT_TIMEOUT == 1800
    monkeypatch.setenv(watchdog.TIMEOUT_ENV, "60")
    assert watchdog.timeout() == 60 and watchdog.timeout(5) == 5 and watchdog.timeout(0) == 0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(watchdog.TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=watchdog.TIMEOUT_ENV):
            watchdog.timeout()
    with pytest.raises(ValueError, match=r"--stall-timeout must be a number of seconds >= 0"):
        watchdog.timeout(-2)


# ---------------------------------------------------------------------- the experiments' CLI

# masked_demo whose first stage is saved and whose next stage then wedges while its result is
# materialised (``_cli._numpy_tree``, where issue 26's run hung).
_STALLED = f"""
import sys, time
from experiments import _cli, masked_demo
real_save, real_numpy_tree, saved = _cli.Stages._save, _cli._numpy_tree, []
def save(self, path, value):
    real_save(self, path, value)
    saved.append(path)
def wedged_numpy_tree(value):
    if saved:
        time.sleep({BLOCK})
    return real_numpy_tree(value)
_cli.Stages._save, _cli._numpy_tree = save, wedged_numpy_tree
sys.exit(masked_demo.main(sys.argv[1:]))
"""
DEMO = ["--preset", "smoke", "--num_rounds", "3", "--num_seeds", "1"]


@pytest.mark.experiments
def test_a_stalled_experiment_prints_a_resume_command_that_finishes_it(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), watchdog.TIMEOUT_ENV: "2"}
    run = tmp_path / "run"
    start = time.perf_counter()
    stalled = subprocess.run(
        [sys.executable, "-c", _STALLED, *DEMO, "--outdir", str(run)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=BLOCK + 60,
    )  # fmt: skip
    assert stalled.returncode == watchdog.EXIT_CODE, stalled.stderr
    assert time.perf_counter() - start < BOUND + 30  # the stage before the stall compiles
    assert "last progress" in stalled.stderr and "stage method_0" in stalled.stderr
    assert "in wedged_numpy_tree" in stalled.stderr and "in run" in stalled.stderr
    assert (run / watchdog.STACKS_FILE).is_file()
    last = stalled.stderr.rstrip().splitlines()[-1]
    prefix = "jaxntk watchdog: to continue the run: "
    assert last == prefix + "python -m experiments.masked_demo --preset smoke --num_rounds 3 " \
        f"--num_seeds 1 --stall-timeout 2 --resume --outdir {run}"  # fmt: skip
    command = shlex.split(last.removeprefix(prefix))
    resumed = subprocess.run(
        [sys.executable, *command[1:]], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    from jaxntk.experiments import _cli

    assert _cli.finished(run) and not (run / _cli.CHECKPOINT_DIR).exists()


@pytest.mark.experiments
def test_the_resume_command_parses_to_the_same_config(tmp_path):
    from jaxntk.experiments import _cli, asym_regression

    script, out = asym_regression.SCRIPT, tmp_path / "o"
    argv = ["--preset", "smoke", "--gammas", "1:0,0.5:0.7", "--ks", "", "--data-options",
            "n:500,name:x y", "--lr", "0.25", "--checkpoint-every", "10",
            "--outdir", str(out)]  # fmt: skip
    options = _cli.parse(argv, script.name, script.presets)
    command = _cli.resume_command(script, options)
    assert command.startswith("python -m experiments.asym_regression --preset smoke ")
    assert command.endswith(f"--checkpoint-every 10 --resume --outdir {out}")
    again = _cli.parse(shlex.split(command)[3:], script.name, script.presets)
    assert again.cfg == options.cfg and again.resume and again.checkpoint_every == 10
    # an --overwrite run over a finished result that has saved no stage yet: --resume would
    # re-plot the old result, so the command starts it again instead
    for name in _cli.OUTPUT_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("")
    options = _cli.parse([*argv, "--overwrite"], script.name, script.presets)
    assert "--overwrite --outdir" in _cli.resume_command(script, options)
    (out / _cli.CHECKPOINT_DIR).mkdir()
    assert "--resume --outdir" in _cli.resume_command(script, options)


@pytest.mark.experiments
def test_reproduce_resume_command(tmp_path):
    from jaxntk.experiments import reproduce

    argv = ["reproduce", "--preset", "smoke", "--out", str(tmp_path), "--only", "a,b", "--set",
            "data=fashion_mnist", "--stall-timeout", "60"]  # fmt: skip
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    reproduce.add_arguments(commands.add_parser("reproduce"))
    command = reproduce.resume_command(parser.parse_args(argv))
    assert command == (
        f"jaxntk reproduce --preset smoke --out {tmp_path} --only a,b --set data=fashion_mnist "
        "--stall-timeout 60 --resume"
    )
