"""Bad input raises one ValueError format, the one lowrank_sdp uses:

    The 'rank' parameter of BinaryLinear must be a non-negative int; got -1.
"""

from __future__ import annotations

import numbers
from typing import Any


def invalid(param: str, func: str, expected: str, got: Any) -> ValueError:
    """Build the ValueError for a parameter that is not what `func` expects."""
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return ValueError(f"The '{param}' parameter of {func} must be {expected}; got {shown}.")


def check_int(value: Any, param: str, func: str, minimum: int) -> int:
    """Return `value` as an int >= `minimum` (bools and floats refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise invalid(param, func, expected, value)
    return int(value)


def check_choice(value: Any, choices: tuple[str, ...], param: str, func: str) -> str:
    """Return `value` if it is one of `choices`, else raise."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        raise invalid(param, func, f"one of {listed}", value)
    return value


def check_unit_interval(value: Any, param: str, func: str, closed: bool = True) -> float:
    """Return `value` as a float in [0, 1] (or [0, 1) when not `closed`), else raise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not ok:
        raise invalid(param, func, "a number in [0, 1]" if closed else "a number in [0, 1)", value)
    return value
