"""Kubernetes resource quantities (``"500m"``, ``"2Gi"``, ``"1e3"``, ``4``) as exact numbers.

:func:`parse_quantity` reads the forms the API server accepts (decimal and binary SI suffixes,
decimal exponents) into a :class:`~decimal.Decimal`; :func:`quantity_value` rounds up to a whole
number as Go's ``resource.Quantity.Value()`` does, which is how KubeRay turns a container's
``limits.cpu: 500m`` into ``--num-cpus=1``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["parse_quantity", "quantity_value"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}  # fmt: skip
_FORM = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)


def parse_quantity(value: int | float | str) -> Decimal:
    """The exact value of a quantity; ``ValueError`` naming it when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _FORM.match(value.strip())
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"not a quantity: {value!r}") from None
    if exponent:
        return base * Decimal(10) ** int(exponent[1:])
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    return base * _DECIMAL[suffix or ""]


def quantity_value(value: int | float | str) -> int:
    """The quantity rounded up to a whole number (``"500m"`` → 1, ``"2Gi"`` → 2147483648)."""
    return math.ceil(parse_quantity(value))
