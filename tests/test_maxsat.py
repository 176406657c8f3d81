"""MAX-SAT: the WCNF reader (both formats, its errors), the relaxation against cvxpy + Clarabel,
the bound against brute force (hard clauses too), the rounding's assignment."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lowrank_sdp as ls
from lowrank_sdp.io import WCNF, read_wcnf

DATA = Path(__file__).resolve().parent.parent / "data" / "maxsat"
seeds = st.integers(0, 2**31 - 1)


def _instance(seed: int, n: int, m: int, kmax: int, hard_p: float) -> WCNF:
    rng = np.random.default_rng(seed)
    ptr, lits, w, hard = [0], [], [], []
    for _ in range(m):
        k = int(rng.integers(1, kmax + 1))
        lits += list(rng.integers(1, n + 1, k) * rng.choice([-1, 1], k))  # repeats allowed
        ptr.append(len(lits))
        w.append(float(rng.integers(1, 5)))
        hard.append(bool(rng.random() < hard_p))
    return WCNF(n, np.array(ptr), np.array(lits, dtype=np.int64), np.array(w), np.array(hard))


def _brute(f: WCNF) -> float:
    best = -np.inf
    for bits in itertools.product([False, True], repeat=f.n_vars):
        a = np.array(bits)
        sat = f.satisfied(a)
        if sat[f.hard].all():
            best = max(best, float(f.weights[sat & ~f.hard].sum()))
    return best


@settings(max_examples=8, deadline=None)
@given(seed=seeds, n=st.integers(1, 9), m=st.integers(1, 30), kmax=st.integers(1, 4),
       hard_p=st.sampled_from([0.0, 0.0, 0.15]))
def test_bound_is_sound_and_assignment_valid(seed, n, m, kmax, hard_p) -> None:
    f = _instance(seed, n, m, kmax, hard_p)
    res = ls.maxsat(f, seed=seed % 1000)
    best = _brute(f)
    assert res.certified, res
    assert res.bound >= best - 1e-9, (res, best)
    assert res.assignment.shape == (n,) and res.assignment.dtype == bool
    assert res.satisfied_weight == f.soft_weight(res.assignment)
    if res.hard_satisfied:
        assert res.satisfied_weight <= best + 1e-9
    if not f.hard.any():
        assert res.satisfied_weight <= res.bound


@settings(max_examples=4, deadline=None)
@given(seed=seeds, n=st.integers(2, 7), m=st.integers(2, 20))
def test_relaxation_value_against_cvxpy(seed, n, m) -> None:
    """The SDP of MAX-2SAT / MAX-3SAT (soft clauses): max sum_j w_j (1 - (<S_j, X> - (k-1)^2)
    / (4k)), S_j = s_j s_j^T, diag(X) = 1, in cvxpy directly from the clauses."""
    cp = pytest.importorskip("cvxpy", reason="the cvxpy extra is not installed")
    f = _instance(seed, n, m, 3, 0.0)
    res = ls.maxsat(f)
    X = cp.Variable((n + 1, n + 1), PSD=True)
    terms = []
    for j in range(f.m):
        lits = np.unique(f.clause(j))
        if np.intersect1d(lits, -lits).size:
            terms.append(f.weights[j])  # a tautology
            continue
        s = np.zeros(n + 1)
        s[0] = -1.0
        s[np.abs(lits)] = np.sign(lits)
        k = lits.size
        terms.append(f.weights[j] * (1 - (cp.quad_form(s, X) - (k - 1) ** 2) / (4 * k)))
    prob = cp.Problem(cp.Maximize(sum(terms)), [cp.diag(X) == 1])
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    assert prob.status == "optimal"
    opt = float(prob.value)
    assert abs(res.objective - opt) <= 1e-6 * (1 + abs(opt)) + 1e-7 * (1 + abs(opt))
    assert res.bound >= opt - 1e-7 * (1 + abs(opt))


def test_reader_formats_agree(tmp_path) -> None:
    old = tmp_path / "old.wcnf"
    old.write_text("c pre-2022\np wcnf 3 4 10\n10 1 2 0\n3 -1 0\n2 -2\n 3 0\n1 -3 0\n")
    new = tmp_path / "new.wcnf"
    new.write_text("c 2022\nh 1 2 0\n3 -1 0\n2 -2 3 0\n1 -3 0\n")
    cnf = tmp_path / "plain.cnf"
    cnf.write_text("p cnf 3 2\n1 -2 0\n3 0\n")
    a, b, c = read_wcnf(old), read_wcnf(new), read_wcnf(cnf)
    for f in (a, b):
        assert f.n_vars == 3 and f.m == 4
        np.testing.assert_array_equal(f.indptr, [0, 2, 3, 5, 6])
        np.testing.assert_array_equal(f.literals, [1, 2, -1, -2, 3, -3])
        np.testing.assert_array_equal(f.hard, [True, False, False, False])
        np.testing.assert_array_equal(f.weights[1:], [3.0, 2.0, 1.0])
    assert c.m == 2 and not c.hard.any() and np.all(c.weights == 1.0)


@pytest.mark.parametrize(("text", "match"), [
    ("p wcnf 2 1\n1 1 3 0\n", "line 2: literal 3 names variable 3, but the header declares 2"),
    ("p wcnf 2 2\n1 1 0\n", "line 1: the header declares 2 clauses; the file holds 1"),
    ("p wcnf 2 1\n1 1 2\n", "line 2: the clause that starts here does not end with 0"),
    ("p wcnf 2 1\n-1 1 0\n", "line 2: a clause weight must be positive"),
    ("p wcnf 2 1\n1 x 0\n", "line 2: the literal 'x' is not a number"),
    ("p wcnf two 1\n", "line 1: the number of variables 'two' is not a number"),
    ("p maxsat 2 1\n", "line 1: expected 'p wcnf NVARS NCLAUSES"),
    ("1 1 0\np wcnf 1 1\n", "line 2: the 'p' line must come before the clauses"),
    ("h 1 0\nh 2 x 0\n", "line 2: the literal 'x' is not a number"),
])
def test_reader_errors_name_the_line(tmp_path, text, match) -> None:
    path = tmp_path / "bad.wcnf"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_wcnf(path)


def test_bundled_example() -> None:
    res = ls.maxsat(DATA / "small.wcnf")
    f = read_wcnf(DATA / "small.wcnf")
    assert res.certified and res.hard_satisfied
    assert res.satisfied_weight <= _brute(f) <= res.bound
    assert res.n == f.n_vars == 6 and f.hard.sum() == 1


def test_validation() -> None:
    with pytest.raises(ValueError, match="'instance' parameter of maxsat"):
        ls.maxsat(42)
    with pytest.raises(ValueError, match="'trials' parameter of maxsat"):
        ls.maxsat(DATA / "small.wcnf", trials=0)
