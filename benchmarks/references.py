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
    return markdown_table_text(path.read_text(), first_column)


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


@dataclass(frozen=True)
class SdplibOptimum:
    """A published optimal value of an SDPLIB problem (SDPA's objValPrimal convention)."""

    name: str
    value: float
    tolerance: float
    """Half a unit in the last printed digit (plus 1e-9 relative): how far a correct value may be."""
    source: str


def sdplib_optima() -> dict[str, SdplibOptimum]:
    """Every problem of the whole-collection table of data/sdplib/README.md with a numeric optimum,
    sharpened by the SDPA-GMP values of the max-cut and theta tables and corrected where the README
    says the SDPLIB table is wrong (maxG51, maxG55, qpG51)."""
    text = SDPLIB_README.read_text()
    start = text.index("| file | m | n | optimal value")
    table = markdown_table_text(text[start:], "file")
    out: dict[str, SdplibOptimum] = {}
    for name, row in table.items():
        cell = row["optimal value (SDPLIB table)"]
        try:
            value = float(cell)
        except ValueError:
            continue  # infeasible problems
        mantissa, _, exponent = cell.lower().partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        ulp = 10.0 ** (int(exponent or 0) - decimals)
        out[name] = SdplibOptimum(name, value, 0.5 * ulp + 1e-9 * abs(value), "SDPLIB table")
    gmp = {**{k: r.sdpa_gmp for k, r in sdplib_references().items() if r.sdpa_gmp is not None}}
    theta_start = text.index("| file | m | n | SDPLIB table | SDPA-GMP |")
    for name, row in markdown_table_text(text[theta_start:], "file").items():
        number = _NUMBER.match(row["SDPA-GMP"])
        if number:
            gmp[name] = float(number.group(0))
    for name, value in gmp.items():
        out[name] = SdplibOptimum(name, value, 1e-9 * (1.0 + abs(value)), "SDPA-GMP")
    # Corrections measured in the README (SDPA on this machine, and the certified max-cut values).
    out["qpG51"] = SdplibOptimum("qpG51", 11818.0, 0.5e-3 + 1e-9 * 11818.0, "README correction")
    lo, hi = sdplib_references()["maxG55"].certified
    out["maxG55"] = SdplibOptimum("maxG55", 0.5 * (lo + hi), 0.5 * (hi - lo), "certified interval")
    return out


def markdown_table_text(text: str, first_column: str) -> dict[str, dict[str, str]]:
    """`markdown_table` on a string (the first table of `text` whose first header cell matches)."""
    rows: dict[str, dict[str, str]] = {}
    header = None
    for line in text.splitlines():
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
