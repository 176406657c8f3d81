"""Parameter checks with one message format for bad input, after scikit-learn's validation.

    The 'rank' parameter of solve must be a positive int or "auto"; got -3.

Public (like ``sklearn.utils.validation``) so that code built on the library, such as the `bnn`
adapter, raises the same messages: each ``check_*`` returns the value (converted) or raises that
ValueError, and `invalid` builds it for checks of your own.
"""

from __future__ import annotations

import numbers
from typing import Any

SYMMETRY_RTOL = 1e-10
"""One symmetry tolerance for every matrix the library takes. Graph weights count as symmetric when
max|A - A^T| <= SYMMETRY_RTOL * max(1, max|A|), are then replaced by their symmetric part
(A + A^T) / 2, and beyond that are refused with a ValueError. A cost matrix C is always replaced by
its symmetric part (the same problem: <C, X> = <(C + C^T) / 2, X> for symmetric X), with a
UserWarning when max|C - C^T| > SYMMETRY_RTOL * max|C|."""


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


def check_int(value: Any, param: str, func: str, minimum: int, extra: str = "") -> int:
    """Return `value` as an int >= `minimum` (numpy ints too; bools and floats refused), else raise.

    `extra` is appended to what the message says is expected (e.g. ``" or None"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise invalid(param, func, expected + extra, value)
    return int(value)


def check_positive_int(value: Any, param: str, func: str, extra: str = "") -> int:
    """Return `value` as an int >= 1, else raise the standard ValueError."""
    return check_int(value, param, func, 1, extra)


def check_choice(value: Any, choices: tuple[str, ...], param: str, func: str) -> str:
    """Return `value` if it is one of `choices`, else raise the standard ValueError."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        raise invalid(param, func, f"one of {listed}", value)
    return value


def check_seed(value: Any, func: str, param: str = "seed") -> int:
    """Return `value` as an int >= 0 (numpy ints too; bools and floats refused)."""
    return check_int(value, param, func, 0)


def check_unit_interval(value: Any, param: str, func: str, closed: bool = True) -> float:
    """Return `value` as a float in [0, 1] (or [0, 1) when not `closed`), else raise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not ok:
        raise invalid(param, func, "a number in [0, 1]" if closed else "a number in [0, 1)", value)
    return value


def check_bool(value: Any, param: str, func: str) -> bool:
    """Return `value` as a bool if it is one (numpy bools too); 0, 1, "yes" and None are refused."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise invalid(param, func, "a bool", value)
    return bool(value)


def check_numeric_dtype(dtype: Any, param: str, func: str) -> None:
    """Refuse complex, string, object (anything but bool, int, float) dtypes, one message each.

    Casting would silently drop imaginary parts (a different problem) or parse strings as numbers.
    """
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise invalid(param, func, "real (complex values are not supported)",
                      f"<an array of dtype {dtype}>")
    if dtype.kind not in "biuf":
        raise invalid(param, func, "numeric (bool, int or float entries)",
                      f"<an array of dtype {dtype}>")


def as_numeric_array(value: Any, param: str, func: str):
    """np.asarray(value) as float64, after `check_numeric_dtype` on what it holds."""
    import numpy as np

    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested lists
        raise invalid(param, func, "a numeric array", f"<{type(value).__name__}>") from None
    check_numeric_dtype(array.dtype, param, func)
    return array.astype(np.float64, copy=False)


MAGNITUDE_LIMIT = 1e150
"""The largest absolute row sum of C may be at most MAGNITUDE_LIMIT / sqrt(n). The solver squares
and sums quantities of that size (gradient norms ~ n * rowsum^2, Lanczos inner products); beyond
it they overflow to inf and the bound becomes -inf. Entries of 1e154 overflowed at n = 20."""


def check_magnitude(row_sum: float, n: int, param: str, func: str, what: str = "row sum") -> None:
    """Refuse a matrix so large that the solver's sums of squares would overflow."""
    import math

    limit = MAGNITUDE_LIMIT / math.sqrt(n)
    if not row_sum <= limit:
        raise invalid(
            param, func,
            f"scaled so that its largest absolute {what} is at most {MAGNITUDE_LIMIT:g} / sqrt(n) "
            f"= {limit:.3g} (beyond that the solver's sums of squares overflow; divide C by a "
            "power of 2 and multiply the value and bound back)",
            f"<a matrix whose largest absolute {what} is {row_sum:.3g}>",
        )
