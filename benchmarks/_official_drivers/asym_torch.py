"""Seconds of the official asymmetrical_scaling GD step and compute_NTK (PyTorch); prints JSON.

Run by ``benchmarks.official`` with the torch venv's interpreter::

    python asym_torch.py gd  --clone DIR/asymmetrical_scaling --n 5000 --steps 3 --threads 2
    python asym_torch.py ntk --clone DIR/asymmetrical_scaling --n 5000 --threads 2

Both use ``mnist/run.py`` unmodified, with the network it builds (``FFNN(d, 1, p, 10,
bias=False)``, lambdas from its default ``const_and_zipfian`` a = 0.5, alpha = 0.5) on synthetic
MNIST-shaped data (pixel-like uniform inputs in [0, 1), one-hot labels). Its ``fast_nist`` module
(the MNIST loader, which needs torchvision and a download) is the one thing replaced: by an empty
module, as no data is loaded through it.

``gd``: ``run_gd`` itself runs 1 + ``--warmup`` + ``--steps`` steps; a post-step hook on the
optimizer (``torch.optim.optimizer.register_optimizer_step_post_hook``) stamps the time after every
``optimizer.step()``, so the interval between two stamps is one whole loop iteration of run_gd
(forward, MSE loss, accuracy, zero_grad, backward, SGD step). Step 0's NTK/eval logging comes
before the first stamp and is not timed (it is given 2 NTK points to keep it short), nor are
the ``--warmup`` steps after it.

``ntk``: ``compute_NTK(y_pred, net, optimizer, num_data=50, num_outputs=10)`` on the net set up
as in ``run_gd`` (lambdas and output layer frozen, ``init_weights(lam_rvs, sigma_v=sqrt(2),
sigma_b=0)``), with ``y_pred = net(x)`` over all n training points, as ``run_gd`` passes it.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import types


def load_official(clone):
    """The official mnist/run.py as a module (its fast_nist import stubbed, see above)."""
    sys.path.insert(0, clone)  # ffnn, sampling_utils
    sys.modules["fast_nist"] = types.ModuleType("fast_nist")
    sys.modules["fast_nist"].FastMNIST = None
    spec = importlib.util.spec_from_file_location(
        "asym_mnist_run", os.path.join(clone, "mnist", "run.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["gd", "ntk"])
    parser.add_argument("--clone", required=True, help="a clone of asymmetrical_scaling")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=784)
    parser.add_argument("--m", type=int, default=2000)
    parser.add_argument("--out-dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3, help="gd: timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="gd: steps run first, not timed")
    parser.add_argument("--ntk-points", type=int, default=50)
    parser.add_argument("--ntk-outputs", type=int, default=10)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    official = load_official(args.clone)

    x = torch.rand(args.n, args.d, dtype=torch.float32)
    y = torch.nn.functional.one_hot(torch.randint(0, args.out_dim, (args.n,)), args.out_dim).float()
    net = official.FFNN(args.d, 1, args.m, args.out_dim, bias=False)
    lam_rvs = official.lam_sampler(args.m, "const_and_zipfian", a=0.5, alpha=0.5)
    out = {"threads": {"torch_intra_op": torch.get_num_threads(),
                       "torch_inter_op": torch.get_num_interop_threads()},
           "torch": torch.__version__}  # fmt: skip

    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp:
        if args.what == "gd":
            stamps = []
            from torch.optim.optimizer import register_optimizer_step_post_hook

            hook = register_optimizer_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
            # run_gd runs epochs 0..num_iter, one stamp each: interval i is epoch i (i >= 1).
            official.run_gd(
                tmp, x, y, x[:50], y[:50], net, lam_rvs, args.warmup + args.steps, 1.0,
                ntk_num_data=2, ntk_num_outputs=1,
            )  # fmt: skip
            hook.remove()
            out["step_s"] = np.diff(stamps)[args.warmup :].tolist()
        else:
            net.freeze_grad_lambdas()
            net.freeze_output_v()
            net.init_weights(lam_rvs, sigma_v=np.sqrt(2), sigma_b=0.0)
            optimizer = torch.optim.SGD(params=net.parameters(), lr=1.0)
            y_pred = net(x)
            official.compute_NTK(y_pred, net, optimizer, num_data=1, num_outputs=1)  # warm-up
            start = time.perf_counter()
            kernel = official.compute_NTK(
                y_pred, net, optimizer, num_data=args.ntk_points, num_outputs=args.ntk_outputs
            )
            out["ntk_s"] = time.perf_counter() - start
            out["ntk_shape"] = list(kernel.shape)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
