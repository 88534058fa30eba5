r"""Node scales lam for asymmetrical node scaling (Caron et al., arXiv 2302.01002, §1).

Hidden node j is scaled by sqrt(lam_j) with

.. math::

    \lambda_j = \gamma / m + (1 - \gamma) \tilde\lambda_j, \qquad
    \tilde\lambda_j \ge 0, \quad \sum_j \tilde\lambda_j = 1, \quad \gamma \in [0, 1],

so sum(lam) = 1 and lam > 0 when gamma > 0. gamma = 1 gives lam = 1/m, the NTK
parameterization; gamma < 1 puts a fraction 1 - gamma of the "variance budget" on a few nodes
(feature learning iff gamma < 1). Use ``node_scale = jnp.sqrt(lam)`` with the "scaled" or
"asym_code" parameterization of ``jaxntk.init_params`` (their output scale is 1: lam = 1/m already
carries the 1/sqrt(m)).

Laws of lam~ (``kind``), each normalised to sum 1 (random ones in log space, so that tiny draws do
not all underflow to 0):

=============  ==============================================================  ================
kind           lam~_k (before normalisation), k = 1..m                         parameters
=============  ==============================================================  ================
"iid"          1/m                                                             —
"zipf"         k^(-1/alpha) (finite Zipf, decreasing in the node index)        0 < alpha < 1
"zipf_code"    official code's off-by-one: pmf at k - 1, node 0 gets 0         0 < alpha < 1
"horseshoe"    (pi/2 |C_k| / m)^2, C_k standard Cauchy                         —
"invgamma"     1 / G_k, G_k ~ Gamma(2, rate 1/m)                               —
"beta"         Beta(eta / (2m), 1/2)                                           eta > 0
"gbfry"        finite GBFRY: c W_k P_k G_k (below)                             0<alpha<1, tau>1
"ggp"          finite GGP: W_k G_k (below)                                     0<alpha<1, beta>0
"stable"       finite stable: P_k / m^(1/alpha), P_k ~ Pareto(alpha)           0 < alpha < 1
=============  ==============================================================  ================

Finite GBFRY (official ``sample_finite_GBFRY``, mu = 1): with U ~ U(0, 1),
t = (alpha m tau / (tau - alpha))^(1/alpha), W = (U + (1 - U)(1 + t)^alpha)^(-1/alpha),
G ~ Gamma(1 - alpha), P ~ Pareto(tau) (scale 1), c = (tau - 1)/(tau - alpha).
Finite GGP (official ``sample_finite_GGP``, mu = 1): eta = beta^(1 - alpha),
t = (alpha m / eta)^(1/alpha), W = (U beta^alpha + (1 - U)(t + beta)^alpha)^(-1/alpha),
G ~ Gamma(1 - alpha). Constant factors (c, mu, m^(1/alpha)) cancel in the normalisation.

"zipf_code" reproduces the official ``scipy.stats.zipfian.pmf(np.arange(m), 1/alpha, m)``:
node 0 gets lam~ = 0, node j >= 1 gets j^(-1/alpha) / H_{m, 1/alpha}, and the rank-m term is
missing, so sum(lam) = 1 - (1 - gamma) m^(-1/alpha) / H_{m, 1/alpha} (not renormalised, as there).
The official "stable" sampler passes its arguments to torch's ``Pareto(scale, alpha)`` in the
wrong order (tail index 1 for every alpha); here the tail index is alpha, as its m^(1/alpha)
normalisation intends.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp

from jaxntk import _validate

KINDS = ("iid", "zipf", "zipf_code", "horseshoe", "invgamma", "beta", "gbfry", "ggp", "stable")
DETERMINISTIC_KINDS = ("iid", "zipf", "zipf_code")
# kind -> (default alpha, whether alpha is used)
_ALPHA_DEFAULT = {"zipf": 0.5, "zipf_code": 0.5, "gbfry": 0.5, "ggp": 0.5, "stable": 0.5}

# The paper's four configurations (label: (gamma, kind, alpha)), as in every official notebook.
PAPER_CONFIGS = {
    "iid": (1.0, "iid", None),
    "gamma0.5-alpha0.7": (0.5, "zipf", 0.7),
    "gamma0.2-alpha0.5": (0.2, "zipf", 0.5),
    "gamma0-alpha0.4": (0.0, "zipf", 0.4),
}


def _log_zipf(width: int, alpha: float, dtype):
    return -jnp.log(jnp.arange(1, width + 1, dtype=dtype)) / alpha


def _log_draws(key, kind, width, alpha, tau, beta, eta, dtype):
    """log of unnormalised lam~ draws (shape (width,))."""
    shape = (width,)
    keys = jax.random.split(key, 3)
    if kind == "horseshoe":
        cauchy = jnp.abs(jax.random.cauchy(keys[0], shape, dtype))
        return 2.0 * (jnp.log(cauchy) + math.log(math.pi / 2 / width))
    if kind == "invgamma":  # 1/G, G ~ Gamma(2, rate 1/m) = m Gamma(2, 1)
        return -(jax.random.loggamma(keys[0], 2.0, shape, dtype) + math.log(width))
    if kind == "beta":  # Beta(a, b) = Ga / (Ga + Gb), in log space (a = eta/(2m) is tiny)
        log_ga = jax.random.loggamma(keys[0], eta / (2 * width), shape, dtype)
        log_gb = jax.random.loggamma(keys[1], 0.5, shape, dtype)
        return log_ga - jnp.logaddexp(log_ga, log_gb)
    log_u = jnp.log(jax.random.uniform(keys[0], shape, dtype, minval=jnp.finfo(dtype).tiny))
    log_1mu = jnp.log1p(-jnp.exp(log_u))
    if kind == "stable":  # Pareto(alpha) with scale 1: U^(-1/alpha)
        return -log_u / alpha - math.log(width) / alpha
    log_gamma = jax.random.loggamma(keys[1], 1.0 - alpha, shape, dtype)
    if kind == "gbfry":
        log_t = math.log(alpha * width * tau / (tau - alpha)) / alpha
        log_w = -jnp.logaddexp(log_u, log_1mu + alpha * jnp.logaddexp(log_t, 0.0)) / alpha
        u_pareto = jax.random.uniform(keys[2], shape, dtype, minval=jnp.finfo(dtype).tiny)
        log_pareto = -jnp.log(u_pareto) / tau
        return math.log((tau - 1) / (tau - alpha)) + log_w + log_pareto + log_gamma
    # ggp
    eta_ggp = beta ** (1 - alpha)
    log_t = math.log(alpha * width / eta_ggp) / alpha
    log_w = (
        -jnp.logaddexp(
            log_u + alpha * math.log(beta),
            log_1mu + alpha * jnp.logaddexp(log_t, math.log(beta)),
        )
        / alpha
    )
    return log_w + log_gamma


def _check_alpha(kind: str, alpha):
    if kind not in _ALPHA_DEFAULT:
        if alpha is not None:
            raise ValueError(
                f"kind={kind!r} takes no alpha (alpha is for {sorted(_ALPHA_DEFAULT)})"
            )
        return None
    alpha = _ALPHA_DEFAULT[kind] if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < alpha < 1.0:
        raise ValueError(
            f"kind={kind!r} needs 0 < alpha < 1 (Zipf exponent 1/alpha > 1, or the law's "
            f"stability index), got alpha={alpha!r}"
        )
    return float(alpha)


def node_scales(
    key,
    width: int,
    *,
    gamma: float,
    kind: str = "zipf",
    alpha: float | None = None,
    tau: float = 2.0,
    beta: float = 1.0,
    eta: float = 1.0,
    dtype=None,
):
    """lam of shape (width,): lam_j = gamma/width + (1 - gamma) lam~_j (module docstring).

    Args:
      key: a PRNG key; may be None for the deterministic kinds "iid", "zipf", "zipf_code".
      width: m, number of hidden nodes.
      gamma: the uniform share, in [0, 1]. gamma = 0 is allowed (the paper runs it) but warns:
        the convergence theory needs gamma > 0.
      kind: the law of lam~, one of ``KINDS``.
      alpha: the law's index for "zipf", "zipf_code", "gbfry", "ggp", "stable" (default 0.5).
      tau: "gbfry" second power-law index (> 1; the official default 2).
      beta: "ggp" exponential tilting (> 0; default 1).
      eta: "beta" first parameter numerator, Beta(eta/(2m), 1/2) (> 0; default 1).
      dtype: floating dtype (default: JAX's default float).

    Returns:
      (width,) lam, sum 1 (except "zipf_code", see the module docstring), decreasing in the index
      for the Zipf kinds (node 0 — node 1 for "zipf_code" — is the largest).
    """
    width = _validate.integer("width", width, minimum=1)
    _validate.allocation("lam", {"width": width}, jnp.float64)
    _validate.choice("kind", kind, KINDS)
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be a number in [0, 1] (1 = the NTK scaling), got {gamma!r}")
    if gamma == 0.0:
        warnings.warn(
            "gamma = 0: all scale mass is heavy-tailed; the paper runs it, but its convergence "
            "theory needs gamma > 0 (lam_min of the NTG >= gamma * kappa_n)",
            UserWarning,
            stacklevel=2,
        )
    alpha = _check_alpha(kind, alpha)
    if kind == "gbfry" and not tau > 1.0:
        raise ValueError(f"kind='gbfry' needs tau > 1 (the official code clamps to 1.01): {tau}")
    if kind == "gbfry" and tau <= alpha:
        raise ValueError(f"kind='gbfry' needs tau > alpha, got tau={tau}, alpha={alpha}")
    if kind == "ggp":
        _validate.positive("beta", beta)
    if kind == "beta":
        _validate.positive("eta", eta)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype

    if kind == "iid":
        tilde = jnp.full((width,), 1.0 / width, dtype)
    elif kind == "zipf":
        tilde = jax.nn.softmax(_log_zipf(width, alpha, dtype))
    elif kind == "zipf_code":
        pmf = jax.nn.softmax(_log_zipf(width, alpha, dtype))  # pmf(k), k = 1..m
        tilde = jnp.concatenate([jnp.zeros((1,), dtype), pmf[:-1]])  # pmf(k), k = 0..m-1
    else:
        _validate.key(key)
        tilde = jax.nn.softmax(_log_draws(key, kind, width, alpha, tau, beta, eta, dtype))
    return gamma / width + (1.0 - gamma) * tilde


def zipf_largest(width: int, gamma: float, alpha: float) -> float:
    """The largest lam of kind "zipf": gamma/m + (1 - gamma) / H_{m, 1/alpha} (float64)."""
    harmonic = math.fsum(k ** (-1.0 / alpha) for k in range(1, width + 1))
    return gamma / width + (1.0 - gamma) / harmonic


def effective_nodes(lam):
    """1 / sum(lam^2): the "effective number of nodes" (m for lam = 1/m)."""
    return 1.0 / jnp.sum(lam**2, axis=-1)
