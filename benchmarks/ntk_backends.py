"""Time every empirical-NTK backend at the MNIST-like shape (not a test).

    .venv/bin/python -m benchmarks.ntk_backends       # closed form + autodiff (current JAX)
    .venv-nt/bin/python -m benchmarks.ntk_backends    # + neural-tangents implementations 1, 2, 3

Default shape: the asymmetric-scaling MNIST script's NTK log — 50 points, d = 784, m = 2000,
10 outputs, float32, per-output kernels (``trace_axes=(), diagonal_axes=(-1,)``, i.e.
(50, 50, 10), what its ``compute_NTK`` returns). Each backend is jitted, compiled once, then
timed ``--repeats`` times; the table gives median (min–max) ms and the largest deviation from
the closed form relative to its largest entry.

The official PyTorch ``compute_NTK`` at this shape is timed in the same run as the closed form by
``python -m benchmarks.official --repos DIR``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk import ntk


def _time(fn, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    out = jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return np.asarray(times) * 1e3, np.asarray(out)


def main(argv=None) -> dict[str, np.ndarray]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--in-dim", type=int, default=784)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--out-dim", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nt-repeats", type=int, default=3, help="neural-tangents is slow")
    parser.add_argument("--skip-autodiff", action="store_true")
    args = parser.parse_args(argv)

    key_x, key_p, key_s = jax.random.split(jax.random.key(0), 3)
    # Pixel-like inputs: non-negative, unit-norm rows.
    x = jnp.abs(jax.random.normal(key_x, (args.n, args.in_dim), jnp.float32))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    params = jaxntk.init_params(key_p, args.in_dim, args.width, args.out_dim, dtype=jnp.float32)
    lam = jax.random.dirichlet(key_s, jnp.full((args.width,), 0.5, jnp.float32))
    scale = jnp.sqrt(lam)
    axes = {"trace_axes": (), "diagonal_axes": (-1,)}

    backends = [("closed_form", {})]
    if not args.skip_autodiff:
        backends.append(("autodiff", {}))
    if ntk.neural_tangents_available():
        backends += [("neural_tangents", {"implementation": i}) for i in ntk.NT_IMPLEMENTATIONS]
    else:
        print(f"neural-tangents does not import on jax {jax.__version__}: run this in .venv-nt")

    print(
        f"jax {jax.__version__}, {jax.devices()[0].platform}; n={args.n} d={args.in_dim} "
        f"m={args.width} C={args.out_dim}, float32, output {args.n}x{args.n}x{args.out_dim}"
    )
    print(f"{'backend':<22}{'median ms':>12}{'min–max ms':>22}{'max |dK| / max |K|':>22}")
    reference, results = None, {}
    for backend, extra in backends:
        fn = jax.jit(
            lambda p, s, b=backend, e=extra: ntk.empirical(
                p, x, node_scale=s, backend=b, **axes, **e
            )
        )
        repeats = args.nt_repeats if backend == "neural_tangents" else args.repeats
        times, kernel = _time(lambda fn=fn: fn(params, scale), repeats)
        reference = kernel if reference is None else reference
        error = np.max(np.abs(kernel - reference)) / np.max(np.abs(reference))
        name = backend + (f" impl {extra['implementation']}" if extra else "")
        span = f"{times.min():.3g}–{times.max():.3g}"
        print(f"{name:<22}{np.median(times):>12.4g}{span:>22}{error:>22.2e}")
        results[name] = times
    return results


if __name__ == "__main__":
    main()
