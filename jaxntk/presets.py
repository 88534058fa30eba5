"""The named special cases of masked training (Liao & Kyrillidis 2022, §2.5).

Each returns a ``MaskedConfig``; keyword ``overrides`` set the remaining fields (``unsampled``,
``loss``). Bernoulli surrogates are scaled by 1/keep_prob; IST surrogates by K (keep_prob = 1/K).
"""

from __future__ import annotations

from jaxntk.train import MaskedConfig


def dropout(keep_prob: float, lr: float, num_rounds: int, **overrides) -> MaskedConfig:
    """Dropout: one Bernoulli mask per round and one GD step (K = 1, tau = 1)."""
    return MaskedConfig(1, keep_prob, 1, lr, num_rounds, mask="bernoulli", **overrides)


def multi_sample_dropout(
    num_subnets: int, keep_prob: float, lr: float, num_rounds: int, **overrides
) -> MaskedConfig:
    """Multi-sample dropout: K Bernoulli masks per round, one GD step each, averaged per neuron."""
    return MaskedConfig(num_subnets, keep_prob, 1, lr, num_rounds, mask="bernoulli", **overrides)


def ist(
    num_subnets: int, local_steps: int, lr: float, num_rounds: int, **overrides
) -> MaskedConfig:
    """Independent Subnet Training: categorical masks (a partition), keep_prob = 1/K."""
    return MaskedConfig(
        num_subnets, None, local_steps, lr, num_rounds, mask="categorical", **overrides
    )


def full_gd(local_steps: int, lr: float, num_rounds: int, **overrides) -> MaskedConfig:
    """Plain full-batch GD: keep_prob = 1 and K = 1, i.e. ``local_steps`` GD steps per round."""
    return MaskedConfig(1, 1.0, local_steps, lr, num_rounds, mask="bernoulli", **overrides)
