"""Reference values of the bundled instances, read from the tables of data/gset/README.md and
data/sdplib/README.md (the one parser of those tables for the benchmarks and the tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GSET_README = REPO / "data" / "gset" / "README.md"
SDPLIB_README = REPO / "data" / "sdplib" / "README.md"

_NUMBER = re.compile(r"[0-9.]+")


def markdown_table(path: Path, first_column: str) -> dict[str, dict[str, str]]:
    """Rows of the first markdown table of `path` whose header's first cell is `first_column`,
    keyed by that cell; each row maps the header's cells to the row's (stripped) cells."""
    rows: dict[str, dict[str, str]] = {}
    header = None
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if line.startswith("|") and cells[0] == first_column:
                header = cells
            continue
        if not line.startswith("|"):
            break
        if set(cells[0]) <= set("-: "):
            continue  # the |---|---:| line
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def interval(cell: str) -> tuple[float, float]:
    """The two numbers of a `[lo, hi]` cell."""
    lo, hi = map(float, _NUMBER.findall(cell))
    return lo, hi


@dataclass(frozen=True)
class GsetReference:
    """One row of data/gset/README.md."""

    name: str
    n: int
    m: int
    bls: float  # Benlic & Hao's best cut (2013)
    later: float | None  # a higher best known cut found later, where there is one
    sdp_interval: tuple[float, float]  # the certified [lo, hi] around the SDP optimum

    @property
    def best_cut(self) -> float:
        return self.bls if self.later is None else self.later

    @property
    def best_cut_source(self) -> str:
        return "BLS" if self.later is None else "later"


@dataclass(frozen=True)
class SdplibReference:
    """One row of the max-cut table of data/sdplib/README.md."""

    name: str
    n: int
    edges: int
    sdpa_gmp: float | None  # None where the README gives no SDPA-GMP value
    certified: tuple[float, float]  # the certified [primal, dual]

    @property
    def optimum(self) -> tuple[float, float]:
        """An interval holding the optimum: the SDPA-GMP value, else the certified interval."""
        if self.sdpa_gmp is None:
            return self.certified
        return self.sdpa_gmp, self.sdpa_gmp


def gset_references() -> dict[str, GsetReference]:
    """Every G-set graph of data/gset, by name (G1, G2, ...)."""
    return {
        name: GsetReference(
            name, int(row["n"]), int(row["m"]), float(row["BLS (2013)"]),
            float(row["best known (later)"]) if row["best known (later)"] else None,
            interval(row["certified [lo, hi]"]),
        )
        for name, row in markdown_table(GSET_README, "name").items()
    }


def sdplib_references() -> dict[str, SdplibReference]:
    """Every max-cut file of data/sdplib, by name without `.dat-s` (mcp100, ..., maxG60)."""
    out = {}
    for name, row in markdown_table(SDPLIB_README, "file").items():
        gmp = row["SDPA-GMP"]
        out[name] = SdplibReference(
            name, int(row["n"]), int(row["edges"]),
            float(gmp) if _NUMBER.fullmatch(gmp) else None,
            interval(row["certified here [primal, dual]"]),
        )
    return out
