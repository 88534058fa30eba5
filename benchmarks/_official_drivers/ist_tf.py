"""Seconds per global iteration of the official MaskedNTK-TMLR IST (TensorFlow); prints JSON.

Run by ``benchmarks.official`` with the tf venv's interpreter (not importable from jaxntk's)::

    python ist_tf.py --clone DIR/MaskedNTK-TMLR --n 1000 --d 2048 --m 500 --rounds 4

``resnet_cifar_experiments.IST`` (the Fig. 2a loop) is called unmodified on synthetic data of the
shape given: X Gaussian with unit-norm rows, Y one-hot scaled by max |Y|, as its ``load_data``
does to the CIFAR features it reads (the one thing replaced: those features are not public
data here). One global iteration = ``generate_subnets`` + K subnets x tau full-batch local steps
+ ``aggregate_updates`` + the full-model loss. ``CentralMLP.generate_subnets`` runs once at the
start of each, so a timestamp taken there (the method is wrapped, the file is not touched)
delimits the rounds; the last one ends when ``IST`` returns. The first ``--warmup`` rounds (TF's
first-call kernel set-up) are dropped.
"""

import argparse
import contextlib
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", required=True, help="a clone of MaskedNTK-TMLR")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--m", type=int, default=500)
    parser.add_argument("--out-dim", type=int, default=10)
    parser.add_argument("--subnets", type=int, default=10)
    parser.add_argument("--keep-prob", type=float, default=0.5)
    parser.add_argument("--local-steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first, not timed")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    # Before any op runs: TF fixes its thread pools at the first one.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    sys.path.insert(0, args.clone)
    import mlp
    import resnet_cifar_experiments as official

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.n, args.d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.eye(args.out_dim, dtype=np.float32)[rng.integers(0, args.out_dim, args.n)]
    y /= np.abs(y).max()
    np.random.seed(args.seed)  # the official code draws W, a and the masks from np.random

    stamps = []
    generate = mlp.CentralMLP.generate_subnets

    def timed_generate(self, *a, **k):
        stamps.append(time.perf_counter())
        return generate(self, *a, **k)

    mlp.CentralMLP.generate_subnets = timed_generate
    total = args.warmup + args.rounds
    with contextlib.redirect_stdout(sys.stderr):  # IST prints its losses; stdout is the JSON
        error_hist, _ = official.IST(
            x, y, args.m, args.subnets, 1.0, args.keep_prob, args.lr, args.local_steps,
            total, "Bernoulli",
        )  # fmt: skip
    stamps.append(time.perf_counter())
    rounds = np.diff(stamps)[args.warmup :]
    print(
        json.dumps(
            {
                "round_s": rounds.tolist(),
                "loss": [float(v) for v in error_hist],
                "threads": {"tf_intra_op": args.threads, "tf_inter_op": args.threads},
                "tensorflow": tf.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
