"""Data sets of both papers. For now: the synthetic stand-ins (``jaxntk.data.synthetic``)."""

from jaxntk.data.synthetic import unit_norm_regression

__all__ = ["unit_norm_regression"]
