"""One message format for bad input, after scikit-learn's parameter validation.

    The 'rank' parameter of solve must be a positive int or "auto"; got -3.
"""

from __future__ import annotations

from typing import Any

SYMMETRY_RTOL = 1e-10
"""One symmetry tolerance for every matrix the library takes (cost matrices and graph weights):
A counts as symmetric when max|A - A^T| <= SYMMETRY_RTOL * max(1, max|A|), and is then replaced by
its symmetric part (A + A^T) / 2; beyond that it is refused with a ValueError."""


def invalid(param: str, func: str, expected: str, got: Any) -> ValueError:
    """Build the ValueError for a parameter that is not what `func` expects."""
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return ValueError(f"The '{param}' parameter of {func} must be {expected}; got {shown}.")


def check_nonnegative(value: Any, param: str, func: str, allow_none: bool = False) -> float | None:
    """Return `value` as a float >= 0 (or None when allowed), else raise the standard ValueError."""
    if value is None and allow_none:
        return None
    expected = "a non-negative number" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(param, func, expected, value)
    value = float(value)
    if not value >= 0.0 or (value == float("inf") and param != "time_limit"):
        raise invalid(param, func, expected, value)
    return value


def check_positive_int(value: Any, param: str, func: str, extra: str = "") -> int:
    """Return `value` as an int >= 1, else raise the standard ValueError."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(param, func, "a positive int" + extra, value)
    return int(value)


def check_choice(value: Any, choices: tuple[str, ...], param: str, func: str) -> str:
    """Return `value` if it is one of `choices`, else raise the standard ValueError."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        raise invalid(param, func, f"one of {listed}", value)
    return value
