"""The measured method choice behind ``method="auto"`` (shipped with the package as code).

Written by ``python benchmarks/methods.py --write-table``; the timings are in
benchmarks/results/methods.json and docs/benchmarks.md ("Which method method="auto" picks").
"""

MEASURED = {
    "choice": {
        "dense": "rgd",
        "nonlinear": "lbfgs",
        "operator": "rgd",
        "sparse": "mixing"
    },
    "measured": "2026-12-03T18:36:43+00:00",
    "source": "benchmarks/methods.py"
}
