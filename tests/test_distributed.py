"""C sharded by rows over two gloo processes: the same certified answer as one process."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")
dist = torch.distributed
mp = pytest.importorskip("torch.multiprocessing")

N, RANK, TOL = 240, 8, 1e-6


def cost() -> sp.csr_matrix:
    """L/4 of a random +-1 weighted graph (average degree ~6), the same in every process."""
    rng = np.random.default_rng(11)
    m = 3 * N
    i, j = rng.integers(0, N, m), rng.integers(0, N, m)
    keep = i != j
    W = sp.coo_matrix((rng.choice([-1.0, 1.0], keep.sum()), (i[keep], j[keep])), shape=(N, N))
    W = sp.csr_matrix(W + W.T)
    W.sum_duplicates()
    return sp.csr_matrix((sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4.0)


def worker(rank: int, world: int, init_file: str, out: str) -> None:
    from lowrank_sdp.torch.distributed import row_block, solve_sharded

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        lo, hi = row_block(N, rank, world)
        rows = cost()[lo:hi]
        C_rows = torch.sparse_csr_tensor(
            torch.from_numpy(rows.indptr.astype(np.int64)),
            torch.from_numpy(rows.indices.astype(np.int64)), torch.from_numpy(rows.data),
            size=rows.shape, dtype=torch.float64)
        res = solve_sharded(C_rows, N, sense="max", rank=RANK, tol=TOL)
        summary = torch.tensor([res.objective, res.bound, float(res.certified), res.iterations],
                               dtype=torch.float64)
        gathered = [torch.empty_like(summary) for _ in range(world)]
        dist.all_gather(gathered, summary)
        if rank == 0:
            torch.save({"summary": gathered, "Y": torch.from_numpy(res.Y)}, out)
        dist.barrier()  # leave together (see tests/test_bnn_ddp.py)
    finally:
        dist.destroy_process_group()


def test_row_block_partitions():
    from lowrank_sdp.torch.distributed import row_block

    for n, world in ((10, 3), (7, 7), (240, 2), (5, 1)):
        blocks = [row_block(n, k, world) for k in range(world)]
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
        assert max(h - lo for lo, h in blocks) - min(h - lo for lo, h in blocks) <= 1


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_match_one_process(tmp_path):
    import lowrank_sdp as ls

    out = str(tmp_path / "result.pt")
    mp.spawn(worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    result = torch.load(out)
    s0, s1 = result["summary"]
    assert torch.equal(s0, s1)  # every rank returns the same Result
    objective, bound, certified, _ = s0.tolist()
    single = ls.solve(cost(), sense="max", rank=RANK, tol=TOL, device="cpu")
    assert certified == 1.0 and single.certified
    scale = 1.0 + abs(single.objective)
    assert abs(objective - single.objective) <= 2 * TOL * scale
    # Each certified bound brackets the other run's (feasible) objective.
    assert bound >= single.objective - 1e-12 * scale and single.bound >= objective - 1e-12 * scale
    Y = result["Y"].numpy()
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0, rtol=1e-12)
    assert float(np.vdot(cost() @ Y, Y)) == pytest.approx(objective, rel=1e-12)


def test_needs_a_process_group():
    from lowrank_sdp.torch.distributed import solve_sharded

    if dist.is_initialized():
        pytest.skip("a process group is already initialised here")
    with pytest.raises(RuntimeError, match="process group"):
        solve_sharded(torch.zeros((4, 4)), 4)


@pytest.fixture
def one_process_group(tmp_path):
    """A one-process gloo group in this process (as in tests/test_interrupt.py), torn down after."""
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed is not available, or a group is already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_one_process_group_agrees_with_solve(one_process_group):
    """The sharded loop takes solve's decisions (staircase_move, step/final certificates): on one
    process it certifies what `solve(C, device="cpu")` certifies, with the same evidence."""
    import lowrank_sdp as ls
    from lowrank_sdp.torch.distributed import solve_sharded

    C = cost()
    for options in ({"rank": RANK}, {"rank": RANK, "max_iterations": 15}):
        single = ls.solve(C, sense="max", tol=TOL, device="cpu", **options)
        sharded = solve_sharded(torch.from_numpy(C.toarray()), N, sense="max", tol=TOL, **options)
        assert sharded.status is single.status
        assert sharded.certificate.evidence is single.certificate.evidence
        scale = 1.0 + abs(single.objective)
        assert abs(sharded.objective - single.objective) <= 2 * TOL * scale
        assert sharded.bound >= sharded.objective and single.bound >= single.objective
        if single.certified:
            assert sharded.bound >= single.objective - 1e-12 * scale


@pytest.mark.parametrize(("option", "value"), [
    ("tol", -1.0), ("time_limit", -2.0), ("seed", "seven"), ("max_iterations", 0),
    ("rank", 0), ("rank", "high"), ("sense", "up")])
def test_bad_options_raise_solves_message(one_process_group, option, value):
    """Every option solve_sharded shares with `solve` is refused with solve's message (naming
    solve_sharded): one check, `lowrank_sdp.solve.check_options`."""
    import lowrank_sdp as ls
    from lowrank_sdp.torch.distributed import solve_sharded

    C = torch.from_numpy(cost().toarray())
    with pytest.raises(ValueError) as single:
        ls.solve(C, device="cpu", **{option: value})
    with pytest.raises(ValueError) as sharded:
        solve_sharded(C, N, **{option: value})
    assert str(sharded.value) == str(single.value).replace("of solve ", "of solve_sharded ")
    assert f"'{option}' parameter of solve_sharded" in str(sharded.value)
