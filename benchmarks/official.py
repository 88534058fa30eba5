"""Same-run speed against the official codes (MaskedNTK-TMLR in TensorFlow, asymmetrical_scaling
in PyTorch), on this machine, in one run.

    python -m benchmarks.official --repos ../official-repos              # everything, 3 repeats
    python -m benchmarks.official --repos DIR --skip-ntk --repeats 5
    make bench-official REPOS=DIR

``--repos DIR`` holds local clones of the two public repositories (run without it for the
``git clone`` lines). Each official code runs unmodified under its own cached virtual environment
(``benchmarks._venvs``: tensorflow-cpu; torch's CPU build), in a subprocess per measurement
(``benchmarks/_official_drivers``); only their data loading is replaced by synthetic data of the
same shape. Official and jaxntk measurements alternate, ``--repeats`` times, so both see the same
machine load; the ratios official / jaxntk are taken per pair and reported as median (min–max).
All float32; every side gets ``--threads`` threads (default: all cores this process may use; a
smaller number pins this process and its children to that many cores).

Workloads (times after compilation / warm-up):

* Fig. 2a round: m 500, n 1000, d 2048, C 10, K 10, xi 0.5, tau 10, Bernoulli masks, official
  zeroing of unsampled neurons, loss 1/2 sum / n. Official: ``resnet_cifar_experiments.IST``,
  seconds per global iteration (timestamps at ``generate_subnets``). jaxntk: ``train_masked``
  (parameterization "code", ``unsampled="zero"``, ``loss="half_mean"``) with ``path="auto"``
  and ``path="plain"``, marginal (t(1 + k) - t(1)) / k (``benchmarks.speed.masked_round``).
* GD step at the MNIST shape: n 5000, d 784, m 2000, C 10, mean-MSE, output layer frozen.
  Official: one loop iteration of ``mnist/run.py``'s ``run_gd`` (``FFNN`` + ``torch.optim.SGD``).
  jaxntk: ``train_gd`` ("asym_code", node scale sqrt(lam), lam the official default
  const_and_zipfian a = alpha = 0.5), marginal per step.
* NTK: the official ``compute_NTK`` (50 points, d 784, m 2000, 10 outputs, through the prediction
  on all 5000 training points as ``run_gd`` passes it; ~100 s a call on 2 cores) against
  ``jaxntk.ntk`` closed form at the same 50 points. ``--skip-ntk`` leaves it out.
* The floor: a 4096^2 float32 matmul in this (JAX) process before and after the rest, and at
  the start of every pair; the fractions below are of the best rate among them.

Arithmetic (2 FLOPs per multiply-add) and the fractions of the same-run matmul rate:

* own: what the path itself computes, ``jaxntk.rounds.costs`` (the compact paths count their
  padded capacity, plain counts all m neurons in every surrogate);
* useful: only the neurons a surrogate keeps, in pre-activation (Gram) space, i.e. the least
  any exact path must do: ``useful_round_macs`` = K tau (n^2 m xi + 2 n m xi C) + n d m + n^2 m
  (per local step the Gram product K G of the n x (m xi) gradient and the surrogate's output
  forward and backward; per round the weight update G^T X and the pre-activation update K G
  once, Z carried from round to round);
* GD step: 2 n d m (forward X W^T, backward G^T X) + 2 n m C (output layer forward, backward).

Writes ``benchmarks/results/official_<platform>.json`` (``--out``) and prints a table. Not a
test: never part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _venvs

HERE = Path(__file__).parent
DRIVERS = HERE / "_official_drivers"
REPOS = {
    "MaskedNTK-TMLR": "https://github.com/JLiao980706/MaskedNTK-TMLR",
    "asymmetrical_scaling": "https://github.com/juho-lee/asymmetrical_scaling",
}
# The files the drivers import from each clone: a folder without them is not the official code.
REQUIRED = {
    "MaskedNTK-TMLR": ("mlp.py", "resnet_cifar_experiments.py"),
    "asymmetrical_scaling": ("ffnn.py", "sampling_utils.py", "mnist/run.py"),
}
WORKLOADS = ("round", "gd", "ntk")
NEEDS = {"round": ("MaskedNTK-TMLR", "tf"), "gd": ("asymmetrical_scaling", "torch"),
         "ntk": ("asymmetrical_scaling", "torch")}  # fmt: skip
FIG2A = {"n": 1000, "d": 2048, "m": 500, "out_dim": 10, "k": 10, "tau": 10, "xi": 0.5, "lr": 0.1}
MNIST = {"n": 5000, "d": 784, "m": 2000, "out_dim": 10}
NTK_POINTS, NTK_OUTPUTS = 50, 10
MATMUL = 4096


def useful_round_macs(n, d, m, out_dim, k, tau, xi) -> float:
    """Multiply-adds of a round counting kept neurons only (m xi per surrogate), Gram space."""
    kept = m * xi
    return k * tau * (n * n * kept + 2 * n * kept * out_dim) + n * d * m + n * n * m


def missing_repos(repos: Path | None, names) -> list[str]:
    """The official repositories in ``names`` that ``repos`` lacks (all of them for None)."""
    if repos is None:
        return list(names)
    return [r for r in names if not all((repos / r / f).is_file() for f in REQUIRED[r])]


def how_to_get(repos: Path | None, missing) -> str:
    where = repos if repos is not None else Path("DIR")
    lines = [
        "benchmarks.official times the official codes from local clones of their repositories; "
        + (
            "pass --repos DIR, the folder that holds them."
            if repos is None
            else f"{where} lacks {', '.join(missing)}."
        ),
        "Get them with:",
        *(f"  git clone {REPOS[r]} {where / r}" for r in missing),
        f"then run: python -m benchmarks.official --repos {where}",
    ]
    return "\n".join(lines) + "\n"


def pair_ratios(official, jaxntk) -> dict:
    """official / jaxntk per alternation pair: median and min–max."""
    ratios = np.asarray(official) / np.asarray(jaxntk)
    return {
        "median": float(np.median(ratios)),
        "min": float(ratios.min()),
        "max": float(ratios.max()),
        "per_pair": ratios.tolist(),
    }


def _git_commit(path: Path) -> str | None:
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _child_env(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="2",  # TF's start-up banners, not errors
        TQDM_DISABLE="1",  # run_gd's progress bar
        CUDA_VISIBLE_DEVICES="",
    )
    return env


def run_driver(python: Path, script: str, argv, threads: int, timeout: float) -> dict:
    """Run an official-code driver; its last stdout line is its JSON result."""
    cmd = [str(python), str(DRIVERS / script), *map(str, argv), "--threads", str(threads)]
    with tempfile.TemporaryDirectory() as tmp:  # the official code writes into its cwd
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, cwd=tmp, env=_child_env(threads),
                timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(
                f"{script} ran past {timeout:.0f} s: {' '.join(cmd)}\n"
                "The machine may be heavily loaded; raise --driver-timeout or use --skip-ntk."
            ) from err
    if out.returncode:
        raise RuntimeError(
            f"{script} failed (exit {out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}\n"
            "Check the clone (a fresh `git clone` of the official repository) and the venv "
            f"(delete {python.parent.parent} to rebuild it)."
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=Path, default=None, help="folder of the two clones")
    parser.add_argument("--repeats", type=int, default=3, help="alternation pairs per workload")
    parser.add_argument("--ntk-repeats", type=int, default=1, help="pairs for the ~100 s NTK")
    parser.add_argument("--skip-ntk", action="store_true", help="leave the NTK out")
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, default=None)
    parser.add_argument(
        "--extra", type=int, default=2, help="rounds timed per sample (GD steps: twice as many)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads of every side (default: all cores)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="venv cache folder")
    parser.add_argument("--driver-timeout", type=float, default=1800.0, help="seconds per call")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for name in ("repeats", "ntk_repeats", "extra"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    todo = [w for w in (args.only or WORKLOADS) if not (w == "ntk" and args.skip_ntk)]
    missing = missing_repos(args.repos, dict.fromkeys(NEEDS[w][0] for w in todo))
    if missing:
        parser.exit(2, how_to_get(args.repos, missing))

    cores = sorted(os.sched_getaffinity(0))
    threads = args.threads or len(cores)
    if not 1 <= threads <= len(cores):
        parser.error(f"--threads must be in 1..{len(cores)} (the cores this process may use)")
    if threads < len(cores):  # XLA sizes its pool from the affinity mask; children inherit it
        os.sched_setaffinity(0, cores[:threads])
    return run(args, todo, threads)


def run(args, todo, threads) -> dict:
    cache = args.cache or _venvs.default_cache()
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "threads": {"every_side": threads, "cores_visible": os.cpu_count()},
        "loadavg_start": os.getloadavg(),
        "repeats": args.repeats,
        "official": {},
        "venvs": {},
        "workloads": {},
    }
    pythons = {}
    for venv in dict.fromkeys(NEEDS[w][1] for w in todo):
        python, build_s = _venvs.ensure(venv, cache)
        pythons[venv] = python
        info["venvs"][venv] = {"path": str(python.parent.parent), "build_s": build_s,
                               "versions": _venvs.versions(python, venv)}  # fmt: skip
        print(f"{venv} venv: " + (f"built in {build_s:.0f} s" if build_s else "reused"))
    for repo in dict.fromkeys(NEEDS[w][0] for w in todo):
        info["official"][repo] = {"url": REPOS[repo], "commit": _git_commit(args.repos / repo)}

    # JAX only now: a --threads affinity mask must be in place before XLA starts its pool.
    import jax
    import jax.numpy as jnp

    import jaxntk
    from benchmarks import speed

    info["jax"] = jax.__version__
    info["threads"]["jax"] = f"XLA CPU pool over {len(os.sched_getaffinity(0))} cores"
    matmul_reps = max(3, args.repeats)
    before = speed.peak_matmul(matmul_reps, MATMUL)
    print(f"matmul {MATMUL}^2 before: {before['gflop_per_s']:.0f} GFLOP/s")
    samples = {key: [] for key in ("tf_round", "auto", "plain", "torch_gd", "jax_gd")}
    raw = {"tf_round": [], "torch_gd": [], "torch_ntk": []}
    flops = {}
    f = FIG2A
    mnist = MNIST
    if "gd" in todo:
        lam = jaxntk.scaling.node_scales(
            None, mnist["m"], gamma=0.5, kind="zipf_code", alpha=0.5, dtype=jnp.float32
        )
        make_gd, flops["gd"] = speed.gd_steps(**mnist, node_scale=jnp.sqrt(lam))
    clone = {r: args.repos / r for r in REPOS}
    per_pair = []
    for rep in range(args.repeats):
        per_pair.append(speed.peak_matmul(3, MATMUL))
        print(
            f"pair {rep + 1}/{args.repeats} (matmul {per_pair[-1]['gflop_per_s']:.0f} GFLOP/s):",
            flush=True,
        )
        if "round" in todo:
            out = run_driver(
                pythons["tf"], "ist_tf.py",
                ["--clone", clone["MaskedNTK-TMLR"], "--n", f["n"], "--d", f["d"], "--m", f["m"],
                 "--out-dim", f["out_dim"], "--subnets", f["k"], "--keep-prob", f["xi"],
                 "--local-steps", f["tau"], "--lr", f["lr"], "--rounds", args.extra,
                 "--seed", rep],
                threads, args.driver_timeout,
            )  # fmt: skip
            raw["tf_round"].append(out)
            samples["tf_round"].append(float(np.mean(out["round_s"])))
            for path in ("auto", "plain"):
                t, own, _, resolved = speed.masked_round(
                    f["n"], f["d"], f["m"], f["out_dim"], f["k"], f["tau"], f["xi"], path, 1,
                    lr=f["lr"], extra=args.extra, unsampled="zero",
                )  # fmt: skip
                samples[path].append(float(t[0]))
                flops[path] = (own, resolved)
            print(
                f"  round: TF {samples['tf_round'][-1]:.3f} s, jaxntk auto "
                f"({flops['auto'][1]}) {samples['auto'][-1]:.3f} s, plain "
                f"{samples['plain'][-1]:.3f} s",
                flush=True,
            )
        if "gd" in todo:
            steps = 2 * args.extra
            out = run_driver(
                pythons["torch"], "asym_torch.py",
                ["gd", "--clone", clone["asymmetrical_scaling"], "--n", mnist["n"],
                 "--d", mnist["d"], "--m", mnist["m"], "--out-dim", mnist["out_dim"],
                 "--steps", steps, "--seed", rep],
                threads, args.driver_timeout,
            )  # fmt: skip
            raw["torch_gd"].append(out)
            samples["torch_gd"].append(float(np.mean(out["step_s"])))
            t = speed.marginal(make_gd, 1, steps, 1)
            samples["jax_gd"].append(float(t[0]))
            print(
                f"  GD step: torch {samples['torch_gd'][-1]:.3f} s, jaxntk "
                f"{samples['jax_gd'][-1]:.3f} s",
                flush=True,
            )
    ntk_pairs = ([], [])
    if "ntk" in todo:
        thunk = speed.ntg_thunk("closed_form", NTK_POINTS, mnist["d"], mnist["m"], NTK_OUTPUTS)
        for rep in range(args.ntk_repeats):
            out = run_driver(
                pythons["torch"], "asym_torch.py",
                ["ntk", "--clone", clone["asymmetrical_scaling"], "--n", mnist["n"],
                 "--d", mnist["d"], "--m", mnist["m"], "--out-dim", mnist["out_dim"],
                 "--ntk-points", NTK_POINTS, "--ntk-outputs", NTK_OUTPUTS, "--seed", rep],
                threads, args.driver_timeout,
            )  # fmt: skip
            raw["torch_ntk"].append(out)
            ntk_pairs[0].append(out["ntk_s"])
            ntk_pairs[1].append(float(np.median(speed.seconds(thunk, 3))))
            print(
                f"  NTK: torch {ntk_pairs[0][-1]:.1f} s, jaxntk {ntk_pairs[1][-1] * 1e3:.2f} ms",
                flush=True,
            )
    after = speed.peak_matmul(matmul_reps, MATMUL)
    print(f"matmul {MATMUL}^2 after: {after['gflop_per_s']:.0f} GFLOP/s")
    # The fractions are taken of the best matmul rate seen in the run: on a shared machine the
    # load changes within a run, and the best rate is the floor the machine can reach, so the
    # fractions are lower bounds rather than inflated by a loaded matmul sample.
    rate = max(r["gflop_per_s"] for r in (before, after, *per_pair))
    info["matmul"] = {
        "size": MATMUL, "before": before, "after": after, "per_pair": per_pair,
        "gflop_per_s": rate, "note": "fractions use the best rate of the run",
    }  # fmt: skip
    info["loadavg_end"] = os.getloadavg()
    info["raw_official"] = raw

    w = info["workloads"]
    if "round" in todo:
        cfg = jaxntk.MaskedConfig(f["k"], f["xi"], f["tau"], f["lr"], 1)
        cost = jaxntk.rounds.costs(
            f["n"], f["d"], f["m"], f["out_dim"], cfg, round(f["m"] * f["xi"])
        )
        useful = 2 * useful_round_macs(
            f["n"], f["d"], f["m"], f["out_dim"], f["k"], f["tau"], f["xi"]
        )
        row = {"shape": f, "useful_gflop": useful / 1e9, "useful_formula":
               "2 (K tau (n^2 m xi + 2 n m xi C) + n d m + n^2 m)"}  # fmt: skip
        # The official code's own arithmetic: weight space on its m xi kept columns on average.
        row["official"] = _side(samples["tf_round"], 2 * cost["compact"], useful, rate)
        for path in ("auto", "plain"):
            own, resolved = flops[path]
            row[f"jaxntk_{path}"] = {"path": resolved, **_side(samples[path], own, useful, rate)}
            row[f"ratio_{path}"] = pair_ratios(samples["tf_round"], samples[path])
        w["fig2a_round"] = row
    if "gd" in todo:
        row = {"shape": mnist, "gflop": flops["gd"] / 1e9}
        row["official"] = _side(samples["torch_gd"], flops["gd"], flops["gd"], rate)
        row["jaxntk"] = _side(samples["jax_gd"], flops["gd"], flops["gd"], rate)
        row["ratio"] = pair_ratios(samples["torch_gd"], samples["jax_gd"])
        w["gd_step"] = row
    if "ntk" in todo:
        w["ntk"] = {
            "shape": {"points": NTK_POINTS, "d": mnist["d"], "m": mnist["m"],
                      "outputs": NTK_OUTPUTS, "official_prediction_over": mnist["n"]},
            "official": speed.summary(np.asarray(ntk_pairs[0])),
            "jaxntk_closed_form": speed.summary(np.asarray(ntk_pairs[1])),
            "ratio": pair_ratios(*ntk_pairs),
        }  # fmt: skip

    path = args.out or HERE / "results" / f"official_{jax.devices()[0].platform}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    print_table(info)
    print(f"\nwrote {path}")
    return info


def _side(times, own_flops, useful_flops, rate) -> dict:
    """Summary of one side's samples with its own and useful GFLOP/s and matmul fractions."""
    from benchmarks import speed

    row = speed.summary(np.asarray(times))
    row["samples_s"] = list(times)
    for kind, count in (("own", own_flops), ("useful", useful_flops)):
        row[f"{kind}_gflop_per_s"] = count / 1e9 / row["median_s"]
        row[f"{kind}_fraction_of_matmul"] = row[f"{kind}_gflop_per_s"] / rate
    return row


def _span(row, scale=1.0, fmt=".3f") -> str:
    lo, mid, hi = (row[k] * scale for k in ("min_s", "median_s", "max_s"))
    return f"{mid:{fmt}} ({lo:{fmt}}–{hi:{fmt}})"


def _ratio(r) -> str:
    return f"{r['median']:.2f}x ({r['min']:.2f}–{r['max']:.2f})"


def _rates(row) -> str:
    return (
        f"{row['own_gflop_per_s']:.0f} | {row['useful_gflop_per_s']:.0f} GFLOP/s = "
        f"{row['own_fraction_of_matmul']:.0%} | {row['useful_fraction_of_matmul']:.0%} of matmul"
    )


def print_table(info):
    m = info["matmul"]
    print(
        f"\n{info['cpu']}, {info['threads']['every_side']} threads per side, jax {info['jax']}; "
        f"load average {info['loadavg_start'][0]:.1f} at the start, "
        f"{info['loadavg_end'][0]:.1f} at the end"
    )
    print(
        f"matmul {m['size']}^2 float32: before {m['before']['gflop_per_s']:.0f} GFLOP/s "
        f"({_span(m['before'])} s), after {m['after']['gflop_per_s']:.0f} GFLOP/s "
        f"({_span(m['after'])} s); per pair "
        + ", ".join(f"{r['gflop_per_s']:.0f}" for r in m["per_pair"])
        + f"; fractions below are of the best, {m['gflop_per_s']:.0f} GFLOP/s"
    )
    print("median (min–max) over the pairs; ratio = official / jaxntk per pair")
    print("GFLOP/s and fraction of the matmul rate: own arithmetic | useful arithmetic\n")
    w = info["workloads"]
    if "fig2a_round" in w:
        r = w["fig2a_round"]
        print("Fig. 2a round (m 500, n 1000, d 2048, C 10, K 10, xi 0.5, tau 10), s/round")
        print(f"  official TF IST             {_span(r['official'])}  {_rates(r['official'])}")
        for p in ("auto", "plain"):
            side = r[f"jaxntk_{p}"]
            name = f"jaxntk {p}" + (f" ({side['path']})" if p == "auto" else "")
            print(f"  {name:<28}{_span(side)}  {_rates(side)}  -> {_ratio(r[f'ratio_{p}'])}")
    if "gd_step" in w:
        g = w["gd_step"]
        print("\nGD step (n 5000, d 784, m 2000, C 10, mean-MSE), s/step")
        print(f"  official torch run_gd       {_span(g['official'])}  {_rates(g['official'])}")
        print(f"  jaxntk train_gd             {_span(g['jaxntk'])}  {_rates(g['jaxntk'])}  -> "
              f"{_ratio(g['ratio'])}")  # fmt: skip
    if "ntk" in w:
        k = w["ntk"]
        print("\nNTK (50 points, d 784, m 2000, 10 outputs)")
        print(f"  official compute_NTK        {_span(k['official'], 1.0, '.1f')} s")
        print(
            f"  jaxntk closed form          {_span(k['jaxntk_closed_form'], 1e3, '.2f')} ms  -> "
            f"{_ratio(k['ratio'])}"
        )
    for name, venv in info["venvs"].items():
        built = f"built in {venv['build_s']:.0f} s" if venv["build_s"] else "reused"
        print(f"{name} venv ({built}): {venv['versions']}")


if __name__ == "__main__":
    main()
