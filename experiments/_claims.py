"""The claims table's rows, written as tables: one tuple per claim, graded in one place.

Every script's ``claims(results, cfg)`` returns ``table(paper, rows)``, each row
``(claim, measured, value, criterion)`` or ``(claim, measured, value, criterion, holds)``:

* a criterion that states a bound — an optional word, then ``>``, ``<``, ``≥`` (``>=``), ``≤``
  (``<=``) or ``=`` and a number (``−`` or ``-`` for its sign), e.g. ``"> 10"``,
  ``"ratio > 2 (the paper's figures: ...)"``, ``"slope < −0.3"`` — grades the row itself:
  ``holds = value <op> number`` (NaN never holds); only a note in parentheses may follow the
  number, so "ratio > 1.5 and every step down" states no bound;
* any other criterion (``"smaller rise on every data set"``) needs ``holds`` in the row; a row
  with neither is refused, so no claim is graded by a criterion nobody wrote down.
"""

from __future__ import annotations

import math
import operator
import re

from ._cli import Claim

OPERATORS = {">": operator.gt, "<": operator.lt, "≥": operator.ge, "≤": operator.le,
             ">=": operator.ge, "<=": operator.le, "=": operator.eq}  # fmt: skip
_BOUND = re.compile(r"^(?:\w+ )?(>=|<=|[<>≥≤=]) ([-−]?\d+(?:\.\d+)?(?:e-?\d+)?)(?=$| \()")


def bound(criterion: str):
    """``(operator, number)`` of a criterion that states a bound, else None."""
    match = _BOUND.match(criterion)
    if match is None:
        return None
    return OPERATORS[match.group(1)], float(match.group(2).replace("−", "-"))


def grade(value: float, criterion: str) -> bool:
    """Whether ``value`` meets the bound that ``criterion`` states."""
    rule = bound(criterion)
    if rule is None:
        raise ValueError(
            f"criterion {criterion!r} states no bound ('> 10', 'ratio > 2 (...)'); give the "
            "row its holds explicitly: (claim, measured, value, criterion, holds)"
        )
    op, number = rule
    return not math.isnan(value) and bool(op(value, number))


def table(paper: str, rows) -> list[Claim]:
    """``Claim``s of ``paper`` ("masked", "asymmetric" or "beyond") from rows (module doc)."""
    out = []
    for row in rows:
        claim, measured, value, criterion, *given = row
        holds = given[0] if given else grade(float(value), criterion)
        out.append(Claim(paper, claim, measured, value, holds, criterion))
    return out
