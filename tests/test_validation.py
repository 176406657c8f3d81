"""Every bad input is refused with one ValueError format naming the parameter; nothing is repaired."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import lowrank_sdp as ls
import lowrank_sdp.rounding
from lowrank_sdp.objective import SYMMETRY_RTOL
from lowrank_sdp.validation import MAGNITUDE_LIMIT


def _C(n: int = 5) -> np.ndarray:
    A = np.random.default_rng(0).standard_normal((n, n))
    return A + A.T


def _raises(param: str, func: str = "solve"):
    return pytest.raises(ValueError, match=rf"^The '{param}' parameter of {func} must be .*; got ")


def _objective(n: int | None = 5) -> ls.Objective:
    C = _C(5)
    return ls.Objective(lambda Y: (float(np.vdot(C @ Y, Y)), C), n=n)


@pytest.mark.parametrize(
    "C",
    [
        np.zeros((3, 4)),
        sp.csr_matrix((3, 4)),
        aslinearoperator(np.zeros((3, 4))),
        np.zeros(5),
        np.zeros((2, 2, 2)),
        np.zeros((0, 0)),
        sp.csr_matrix((0, 0)),
        np.array([["a", "b"], ["b", "a"]]),
        "not a matrix",
        None,
    ],
    ids=["dense-3x4", "sparse-3x4", "operator-3x4", "1-D", "3-D", "dense-0x0", "sparse-0x0",
         "strings", "str", "None"],
)
def test_bad_shape_or_type_of_C(C):
    with _raises("C"):
        ls.solve(C)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_nonfinite_C(value, kind):
    C = _C()
    C[1, 2] = C[2, 1] = value
    with _raises("C") as info:
        ls.solve(C if kind == "dense" else sp.csr_matrix(C))
    assert "finite" in str(info.value)


def test_nonfinite_operator():
    C = _C()
    C[0, 0] = np.nan
    with _raises("C"):
        ls.solve(aslinearoperator(C))


@pytest.mark.parametrize("kind", ["dense", "sparse", "operator"])
def test_asymmetric_C_is_replaced_by_its_symmetric_part_with_a_warning(kind):
    C = _C()
    scale = np.abs(C).max()
    C[0, 1] += 1e3 * SYMMETRY_RTOL * scale  # slightly asymmetric, well beyond the tolerance
    wrap = {"dense": np.array, "sparse": sp.csr_matrix, "operator": aslinearoperator}[kind]
    with pytest.warns(UserWarning, match="not symmetric"):
        res = ls.solve(wrap(C), tol=1e-8)
    reference = ls.solve((C + C.T) / 2, tol=1e-8)
    assert res.objective == pytest.approx(reference.objective, rel=1e-7)
    with pytest.warns(UserWarning, match="symmetric part"):
        cert = ls.certify(wrap(C), res.Y)
    assert cert.bound <= reference.objective + 1e-9


def test_asymmetric_operator_without_an_adjoint_is_refused():
    C = _C()
    C[0, 1] += 1.0
    op = LinearOperator(C.shape, matvec=lambda x: C @ x, dtype=np.float64)
    with _raises("C") as info:
        ls.solve(op)
    assert "symmetric" in str(info.value) and "rmatvec" in str(info.value)


def test_asymmetry_within_the_tolerance_is_accepted():
    C = _C()
    C[0, 1] += 0.1 * SYMMETRY_RTOL
    assert ls.solve(C).certified


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_complex_C_is_refused(kind):
    C = _C().astype(complex)
    C[0, 1] += 1j
    C[1, 0] -= 1j  # Hermitian: dropping the imaginary part would solve a different problem
    with _raises("C"):
        ls.solve(C if kind == "dense" else sp.csr_matrix(C))


@pytest.mark.parametrize("rank", [0, -1, 2.5, "3", True, None, "AUTO"])
def test_bad_rank(rank):
    with _raises("rank"):
        ls.solve(_C(), rank=rank)


@pytest.mark.parametrize("method", ["newton", "", None, 3, "RGD"])
def test_bad_method(method):
    with _raises("method"):
        ls.solve(_C(), method=method)


@pytest.mark.parametrize("sense", ["minimize", "MIN", "", None, 1])
def test_bad_sense(sense):
    with _raises("sense"):
        ls.solve(_C(), sense=sense)
    with _raises("sense", "certify"):
        ls.certify(_C(), np.ones((5, 1)), sense=sense)


@pytest.mark.parametrize("value", [-1.0, -1e-12, np.nan, "1", True, [1.0]])
@pytest.mark.parametrize("param", ["tol", "time_limit"])
def test_bad_tolerance_or_time_limit(param, value):
    with _raises(param):
        ls.solve(_C(), **{param: value})


def test_infinite_tolerance_is_refused_but_infinite_time_is_not():
    with _raises("tol"):
        ls.solve(_C(), tol=np.inf)
    assert ls.solve(_C(), time_limit=np.inf).certified


@pytest.mark.parametrize("param", ["max_iterations", "max_rank"])
@pytest.mark.parametrize("value", [0, -2, 1.5, "10", True])
def test_bad_counts(param, value):
    with _raises(param):
        ls.solve(_C(), **{param: value})


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed(seed):
    with _raises("seed"):
        ls.solve(_C(), seed=seed)


def test_bad_callback():
    with _raises("callback"):
        ls.solve(_C(), callback="print")


@pytest.mark.parametrize(
    "Y0, what",
    [
        (np.ones((4, 2)), "rows"),  # n = 5
        (np.ones((6, 2)), "rows"),
        (np.ones(5), "2-D"),
        (np.ones((5, 0)), "2-D"),
        (np.array([[1.0, 0.0]] * 2 + [[0.0, 0.0]] + [[0.0, 1.0]] * 2), "zero row"),
        (np.full((5, 2), np.nan), "finite"),
        (np.full((5, 2), np.inf), "finite"),
        ("abc", "numeric"),
    ],
)
def test_bad_Y0(Y0, what):
    with _raises("Y0") as info:
        ls.solve(_C(), Y0=Y0)
    assert what in str(info.value)


def test_Y0_wider_than_a_fixed_rank():
    with _raises("Y0"):
        ls.solve(_C(), rank=2, Y0=np.ones((5, 3)))


@pytest.mark.parametrize(
    "Y", [np.ones((4, 2)), np.ones(5), np.vstack([np.ones((4, 2)), np.zeros((1, 2))])]
)
def test_bad_Y_of_certify(Y):
    """certify's point is its parameter 'Y' (not 'Y0')."""
    with _raises("Y", "certify"):
        ls.certify(_C(), Y)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="tolerance"):
        ls.solve(_C(), tolerance=1e-6)
    with pytest.raises(TypeError, match="method"):
        ls.certify(_C(), np.ones((5, 1)), method="rgd")
    with pytest.raises(TypeError):
        ls.solve(_C(), "max")  # sense is keyword-only


def test_objective_arguments():
    with _raises("fun", "Objective"):
        ls.Objective(np.eye(3))
    for n in (0, -1, 2.5, True, "3"):
        with _raises("n", "Objective"):
            ls.Objective(lambda Y: (0.0, np.zeros((3, 3))), n=n)
    with _raises("C"):
        ls.solve(_objective(n=None))  # size unknown and no Y0
    assert ls.solve(_objective(n=None), Y0=np.ones((5, 2))).Y.shape[0] == 5
    with _raises("Y0"):
        ls.solve(_objective(n=5), Y0=np.ones((4, 2)))


def test_objective_that_returns_the_wrong_thing():
    with pytest.raises(ValueError, match=re.escape("(5, 5)")):
        ls.solve(ls.Objective(lambda Y: (0.0, np.zeros((4, 4))), n=5))
    with pytest.raises(TypeError, match="tuple"):
        ls.solve(ls.Objective(lambda Y: 0.0, n=5))


def test_linear_only_method_refuses_what_it_cannot_run():
    for method in ("mixing", "tr"):  # both need f(X) = <C, X>
        with pytest.raises(ValueError, match=f"'{method}' needs a linear objective"):
            ls.solve(_objective(), method=method)
    # mixing needs the entries of C; tr needs only products with C, so it runs on an operator
    with pytest.raises(ValueError, match="'mixing' needs C as an explicit array or sparse matrix"):
        ls.solve(aslinearoperator(_C()), method="mixing")
    res = ls.solve(aslinearoperator(_C()), method="tr")
    assert res.method == "tr" and res.certified
    np.testing.assert_allclose(res.objective, ls.solve(_C(), method="tr").objective, rtol=1e-6)


def test_input_is_not_modified():
    C, Y0 = _C(), np.arange(1.0, 11.0).reshape(5, 2)
    C_copy, Y0_copy = C.copy(), Y0.copy()
    ls.solve(C, Y0=Y0)
    ls.certify(C, Y0)
    np.testing.assert_array_equal(C, C_copy)
    np.testing.assert_array_equal(Y0, Y0_copy)


# ------------------------------------------------ issue 10, item 6: the gaps an adversarial pass found


def test_certify_without_a_point():
    with _raises("Y", "certify"):
        ls.certify(_C(), None)


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 1.5}, {"seed": True}, {"seed": "0"},
                                    {"rigorous": 2}, {"rigorous": "yes"}, {"rigorous": None}])
def test_certify_options(kwargs):
    with _raises(next(iter(kwargs)), "certify"):
        ls.certify(_C(), np.ones((5, 1)), **kwargs)


def test_numeric_strings_are_not_parsed():
    """'1.5' is text, not a number: refused for C (array or nested list), Y0 and certify's Y."""
    C, Y = _C(), np.ones((5, 2))
    for bad in (C.astype(str), C.astype(str).tolist(), C.astype(object)):
        with _raises("C") as info:
            ls.solve(bad)
        assert "numeric" in str(info.value)
    with _raises("Y0"):
        ls.solve(C, Y0=Y.astype(str))
    with _raises("Y", "certify"):
        ls.certify(C, Y.astype(str))


def _complex_cases():
    C = _C().astype(complex)
    op = LinearOperator((5, 5), matvec=lambda x: C @ x, dtype=complex)
    # Declared real, but it computes complex values.
    sneaky = LinearOperator((5, 5), matvec=lambda x: C.real @ x + 0j, dtype=np.float64)
    W = np.abs(_C())
    np.fill_diagonal(W, 0)
    Y = np.ones((5, 2))
    return {
        "dense C": ("C", "solve", lambda: ls.solve(C)),
        "sparse C": ("C", "solve", lambda: ls.solve(sp.csr_matrix(C))),
        "complex operator": ("C", "solve", lambda: ls.solve(op)),
        "operator computing complex": ("C", "solve", lambda: ls.solve(sneaky)),
        "Y0": ("Y0", "solve", lambda: ls.solve(_C(), Y0=1j * Y)),
        "certify Y": ("Y", "certify", lambda: ls.certify(_C(), Y + 1j)),
        "maxcut dense": ("graph", "maxcut", lambda: ls.maxcut(W * (1 + 1j))),
        "maxcut sparse": ("graph", "maxcut", lambda: ls.maxcut(sp.csr_matrix(W * (1 + 1j)))),
        "round_cut Y": ("Y", "round_cut", lambda: ls.rounding.round_cut(Y + 1j, W)),
    }


@pytest.mark.parametrize("case", sorted(_complex_cases()))
def test_complex_input_one_error_everywhere(case):
    """Complex values were handled four ways (ComplexWarning and a dropped imaginary part,
    accepted, "row 0 is zero", refused): now one error, and no warning on the way."""
    param, func, call = _complex_cases()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _raises(param, func) as info:
            call()
    assert "must be real (complex values are not supported)" in str(info.value)


def test_operator_returning_the_wrong_length():
    C = _C()
    short = LinearOperator((5, 5), matvec=lambda x: (C @ x)[:-1], dtype=np.float64)
    with _raises("C") as info:
        ls.solve(short)
    assert "shape (5,)" in str(info.value)
    bad_matmat = LinearOperator((5, 5), matvec=lambda x: C @ x,
                                matmat=lambda X: (C @ X)[:, :1], dtype=np.float64)
    with _raises("C") as info:
        ls.solve(bad_matmat)
    assert "(5, 2)" in str(info.value)


@pytest.mark.parametrize("scale", [1e154, 1e200, 1e300])
@pytest.mark.parametrize("kind", ["dense", "sparse", "operator"])
def test_entries_that_would_overflow_are_refused(kind, scale):
    """Entries of 1e154 gave bound -inf and status STATIONARY (sums of squares overflowed)."""
    wrap = {"dense": np.array, "sparse": sp.csr_matrix, "operator": aslinearoperator}[kind]
    with _raises("C") as info:
        ls.solve(wrap(_C(20) * scale))
    assert "overflow" in str(info.value)


@pytest.mark.parametrize("n", [20, 300])
def test_largest_accepted_scale_does_not_overflow(n):
    """Just inside the limit every sum stays finite: a finite bound below the value, no warning."""
    C = _C(n)
    C *= 0.99 * MAGNITUDE_LIMIT / np.sqrt(n) / np.abs(C).sum(axis=1).max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered" is a RuntimeWarning
        res = ls.solve(C, max_iterations=50)
    assert np.isfinite(res.bound) and np.isfinite(res.objective)
    assert res.bound <= res.objective


def test_huge_Y0_rows_are_normalised_not_zeroed():
    Y0 = np.full((5, 2), 1e200)
    res = ls.certify(_C(), Y0)
    assert np.isfinite(res.objective)
    np.testing.assert_allclose(ls.certify(_C(), np.ones((5, 2))).objective, res.objective)
