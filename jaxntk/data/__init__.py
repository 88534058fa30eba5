"""Data sets of both papers. For now: the synthetic stand-ins (``jaxntk.data.synthetic``)."""

from jaxntk.data.synthetic import sphere_sin, unit_norm_regression

__all__ = ["sphere_sin", "unit_norm_regression"]
