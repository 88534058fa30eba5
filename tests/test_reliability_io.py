"""The output folder and the files a run reads back: one writer, checked inputs, no tracebacks.

* an input file (``_cli.input_file()`` fields, ``data_options`` paths) is part of the
  fingerprint by content: a resume after it changed is refused, naming the file;
* a folder is held by one run (``experiments._outdir``): a second run is refused at once naming
  the holder's PID, and a killed holder never blocks;
* every file a resume reads back, every input file and every path a run writes is checked before
  any work: one line naming the file and the fix, exit 2, every byte left as it was;
* a full disk leaves the previous result and says so in one line; outputs take the umask.

The SIGKILL fault test (kills at several points, then ``--resume``) is in test_reliability.py.
"""

import dataclasses
import errno
import json
import os
import pathlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxntk import checkpoint
from jaxntk.experiments import _cli, _outdir, asym_cifar_features, masked_demo, reproduce

pytestmark = pytest.mark.experiments
ROOT = Path(__file__).resolve().parents[1]
DEMO = ["--preset", "smoke", "--num_rounds", "3", "--num_seeds", "1"]
DEMO_CFG = dataclasses.replace(masked_demo.PRESETS["smoke"], num_rounds=3, num_seeds=1)


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refused(capsys, call, code=2) -> str:
    """``call()`` exits with ``code`` and one line on stderr (no traceback); that line."""
    with pytest.raises(SystemExit) as info:
        call()
    assert info.value.code == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def no_work(script):
    """``script`` whose run fails the test if it is ever called (refusals come first)."""

    def run(cfg, stages=None):
        raise AssertionError("the run started")

    return dataclasses.replace(script, run=run)


def feature_file(path: Path, rows=240, scale=1.0) -> Path:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, rows)
    features = np.abs(rng.normal(size=(10, 32))[labels] + 0.5 * rng.normal(size=(rows, 32)))
    np.savez(path, features=(scale * features).astype(np.float32), labels=labels)
    return path


# ------------------------------------------------------------------------------ input files


def test_every_features_field_is_an_input_file_and_data_options_paths_too(tmp_path):
    for name in reproduce.EXPERIMENTS:
        script = __import__(f"jaxntk.experiments.{name}", fromlist=["SCRIPT"]).SCRIPT
        cfg = script.presets["quick"]
        if "features" in {f.name for f in dataclasses.fields(cfg)}:
            cfg = dataclasses.replace(cfg, features="F.npz")
            assert "features" in _outdir.input_files(cfg), name
    from jaxntk.experiments import asym_regression

    table = tmp_path / "table.csv"
    table.write_text("1,2\n")
    cfg = dataclasses.replace(
        asym_regression.PRESETS["smoke"], data_options=(("path", str(table)), ("n", 5))
    )
    digests = _outdir.input_digests(cfg)
    assert list(digests) == ["data_options.path"]
    assert digests["data_options.path"] == checkpoint.file_digest(table)
    assert _cli.fingerprint(asym_regression.SCRIPT, cfg)["inputs"] == digests


def test_a_changed_input_file_is_refused_on_resume_naming_it(tmp_path, capsys):
    script, features = asym_cifar_features.SCRIPT, feature_file(tmp_path / "F.npz")
    cfg = dataclasses.replace(asym_cifar_features.PRESETS["smoke"], features=str(features))
    outdir = tmp_path / "out"
    # what a run killed after its first stage leaves: one stage checkpoint of this config
    stages = _cli.Stages(outdir / _cli.CHECKPOINT_DIR, _cli.fingerprint(script, cfg), False)
    stages.run("train_width_64_config0", lambda: {"loss": np.zeros(3)})
    feature_file(features, scale=2.0)  # the same path, other numbers
    before = snapshot(outdir)
    argv = ["--preset", "smoke", "--features", str(features), "--outdir", str(outdir), "--resume"]
    err = refused(capsys, lambda: _cli.main(no_work(script), argv))
    assert f"--features {features} has changed since the checkpoints in" in err
    assert "restore that file, or pass --overwrite" in err
    assert snapshot(outdir) == before
    # a finished result computed from the old file is not re-plotted as the new file's either
    finished = tmp_path / "finished"
    finished.mkdir()
    for name in _cli.OUTPUT_FILES:
        (finished / name).write_text("{}")
    (finished / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    (finished / _cli.INPUTS_FILE).write_text(json.dumps({"features": "0" * 64}))
    argv[-2] = str(finished)
    err = refused(capsys, lambda: _cli.main(no_work(script), argv))
    assert f"--features {features} has changed since the result in {finished} was computed" in err


# ------------------------------------------------------------------------------------ the lock

_HOLD = """
import sys
from experiments import _outdir
held = _outdir.hold(sys.argv[1])  # kept: a collected generator would release the lock
held.__enter__()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_held_folder_is_refused_at_once_naming_the_holder(tmp_path, capsys):
    held, out = tmp_path / "held", tmp_path / "report"
    holders = [
        subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for folder in (held, out / "masked_demo")
    ]  # fmt: skip
    try:
        assert [h.stdout.readline() for h in holders] == ["held\n"] * 2
        pid = holders[0].pid
        assert (held / _outdir.LOCK_FILE).read_text().strip() == str(pid)
        for extra in ([], ["--resume"], ["--overwrite"]):
            start = time.perf_counter()
            argv = [*DEMO, "--outdir", str(held), *extra]
            err = refused(capsys, lambda a=argv: _cli.main(no_work(masked_demo.SCRIPT), a))
            assert f"--outdir {held} is in use by another run (PID {pid}," in err
            assert time.perf_counter() - start < 5  # at once: nothing imported, nothing run
        # jaxntk reproduce: its --out folder, and each experiment's folder inside it
        assert reproduce.main(["--preset", "smoke", "--out", str(held), "--only", "x"]) == 2
        assert f"--out {held} is in use by another run (PID {pid}," in capsys.readouterr().err
        smoke = ["--preset", "smoke", "--out", str(out), "--only", "masked_demo"]
        assert reproduce.main(smoke) == 1
        report = (out / "report.md").read_text()
        assert f"is in use by another run (PID {holders[1].pid}," in report
        assert "Traceback" not in report and "Traceback" not in capsys.readouterr().out
        assert sorted(p.name for p in held.iterdir()) == [_outdir.LOCK_FILE]
    finally:
        for h in holders:  # SIGKILL: the OS releases the lock, the lock file stays behind
            h.kill()
            h.wait()
    with _outdir.hold(held):  # a killed holder blocks nothing
        assert (held / _outdir.LOCK_FILE).read_text().strip() == str(os.getpid())
        assert _outdir.holder(held) is None  # this process's own folder
    assert list(held.iterdir()) == []  # the lock file is removed with the lock


def test_library_run_writes_nothing_and_takes_no_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("run(cfg) took a lock or wrote a file")

    monkeypatch.setattr(_outdir, "hold", forbidden)
    monkeypatch.setattr(checkpoint, "atomic_files", forbidden)
    assert masked_demo.run(DEMO_CFG)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- corrupt, foreign or misplaced files


def _finished(outdir: Path) -> Path:
    """A finished masked_demo smoke result by hand (its files are read, never plotted here)."""
    outdir.mkdir()
    (outdir / "config.json").write_text(json.dumps(dataclasses.asdict(DEMO_CFG)))
    checkpoint.save_npz(outdir / "results.npz", {"loss": np.arange(3.0)})
    for name in ("figure.png", "figure.pdf", "claims.json"):
        (outdir / name).write_text("[]")
    (outdir / _cli.TIMING_FILE).write_text('{"seconds": 1.5}')
    return outdir


def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _stage_checkpoint(outdir: Path):
    fp = _cli.fingerprint(masked_demo.SCRIPT, DEMO_CFG)
    _cli.Stages(outdir / _cli.CHECKPOINT_DIR, fp).run("method_0", lambda: {"loss": np.ones(9)})
    _truncate(outdir / _cli.CHECKPOINT_DIR / "method_0.npz")


# (id, make the bad outdir, flags, the file named, the fix named)
RESUME_CASES = [
    ("config.json garbage", lambda o: (o / "config.json").write_text("{garbage"), "--resume",
     "config.json is not a readable JSON file", "pass --overwrite"),
    ("config.json not an object", lambda o: (o / "config.json").write_text("[1]"), "--resume",
     "config.json is not a Config", "pass --overwrite"),
    ("timing.json garbage", lambda o: (o / "timing.json").write_text('{"sec'), "--resume",
     "timing.json is not a readable JSON file", "delete it"),
    ("timing.json without seconds", lambda o: (o / "timing.json").write_text("{}"), "--resume",
     "timing.json holds no run time", "delete it"),
    ("results.npz truncated", lambda o: _truncate(o / "results.npz"), "--resume",
     "results.npz is not a readable .npz file", "pass --overwrite"),
    ("stage checkpoint truncated", _stage_checkpoint, "--resume",
     "method_0.npz is corrupt or truncated", "--overwrite"),
    ("checkpoint is a file", lambda o: (o / "checkpoint").write_text("x"), "--overwrite",
     "checkpoint is a file where the run keeps its checkpoint folder", "remove it"),
    ("results.npz is a folder", lambda o: ((o / "results.npz").unlink(),
                                           (o / "results.npz").mkdir()), "--overwrite",
     "results.npz is a folder where the run writes a file", "remove it"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "flag", "what", "fix"), RESUME_CASES,
                         ids=[c[0] for c in RESUME_CASES])  # fmt: skip
def test_bad_files_in_the_outdir_are_refused_before_any_work(tmp_path, capsys, name, make, flag,
                                                             what, fix):  # fmt: skip
    outdir = _finished(tmp_path / "out")
    make(outdir)
    before = snapshot(outdir)
    argv = [*DEMO, "--outdir", str(outdir), flag]
    err = refused(capsys, lambda: _cli.main(no_work(masked_demo.SCRIPT), argv))
    assert what in err and fix in err and str(outdir) in err
    assert snapshot(outdir) == before  # every byte as it was, no lock file left


FEATURE_CASES = [
    ("truncated zip", lambda p: (feature_file(p), _truncate(p)),
     "is not a readable .npz file (corrupt or truncated? BadZipFile"),
    ("a folder", lambda p: p.mkdir(), "is a folder, not a .npz file"),
    ("missing", lambda p: None, "does not exist"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "what"), FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES])
def test_a_bad_features_file_is_refused_before_any_work(tmp_path, capsys, name, make, what):
    path = tmp_path / "F.npz"
    make(path)
    argv = ["--preset", "smoke", "--features", str(path), "--outdir", str(tmp_path / "o")]
    err = refused(capsys, lambda: _cli.main(no_work(asym_cifar_features.SCRIPT), argv))
    assert f"--features {path} {what}" in err and "pass an existing, complete file" in err
    assert not (tmp_path / "o").exists()


def test_a_one_row_features_file_is_one_line_from_the_loader(tmp_path, capsys):
    """Its content is the loader's to judge (inside run, before any stage): exit 1, one line."""
    path = feature_file(tmp_path / "one.npz", rows=1)
    argv = ["--preset", "smoke", "--features", str(path), "--outdir", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as info:
        asym_cifar_features.main(argv)
    assert f"{path}: test_fraction=0.2 of 1 row(s) leaves no test row" in str(info.value.code)
    assert not (tmp_path / "o").exists()


def test_reproduce_out_a_file_is_refused_before_any_work(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    code = reproduce.cli(["reproduce", "--preset", "smoke", "--out", str(path), "--only", "x"])
    err = capsys.readouterr().err.strip()
    expected = f"reproduce: error: --out {path} is a file, not a folder; pass a folder"
    assert code == 2 and err == expected
    assert path.read_text() == "not a folder" and sorted(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------------- full disk, permissions


def test_a_full_disk_leaves_the_previous_result_and_says_so(smoke, tmp_path, capsys, monkeypatch):
    import shutil

    from jaxntk.experiments import asym_simulated

    _, finished = smoke(asym_simulated)
    outdir = tmp_path / "out"
    shutil.copytree(finished, outdir)
    before = snapshot(outdir)
    real = pathlib.Path.write_bytes

    def full_disk(self, data):  # the second file of the group: config.json's is written already
        if self.name.startswith(".results.npz."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    argv = ["--preset", "smoke", "--outdir", str(outdir), "--resume"]  # re-plot: rewrites all
    with pytest.raises(SystemExit) as info:
        asym_simulated.main(argv)
    message = str(info.value.code)
    assert message.startswith("python -m experiments.asym_simulated: error: cannot write ")
    assert f"{outdir / 'results.npz'} (No space left on device)" in message
    assert "is left as it was" in message and "\n" not in message
    assert snapshot(outdir) == before  # no new config.json, no temporary file, no lock file
    monkeypatch.setattr(pathlib.Path, "write_bytes", real)
    assert asym_simulated.main(argv) == 0  # space again: the re-plot goes through


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_take_the_umask_and_stay_atomic(tmp_path, umask):
    old = os.umask(umask)
    try:
        text = checkpoint.atomic_write_text(tmp_path / "a.json", "{}")
        npz = checkpoint.save_npz(tmp_path / "b.npz", {"x": np.ones(2)})
        with checkpoint.atomic_path(tmp_path / "c.pdf") as tmp:
            tmp.write_bytes(b"%PDF")
        with _outdir.hold(tmp_path):
            lock = (tmp_path / _outdir.LOCK_FILE).stat().st_mode & 0o777
    finally:
        os.umask(old)
    for path in (text, npz, tmp_path / "c.pdf"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    assert lock == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.npz", "c.pdf"]


def test_a_killed_holder_pid_in_a_stale_lock_file_blocks_nothing(tmp_path):
    (tmp_path / _outdir.LOCK_FILE).write_text("999999\n")  # left by a killed run
    assert _outdir.holder(tmp_path) is None
    with _outdir.hold(tmp_path):
        pass
    assert not (tmp_path / _outdir.LOCK_FILE).exists()
