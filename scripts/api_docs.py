"""Write the API reference (HTML, one page per public module) from the docstrings, with pdoc.

    python scripts/api_docs.py              # writes docs/api/ (open docs/api/index.html)
    python scripts/api_docs.py -o DIR       # somewhere else
    make api-docs                           # the same as the first line

A public module is one of `lowrank_sdp` whose dotted name has no part starting with "_" (the
private helpers, such as `lowrank_sdp.validation`, are not part of the API).
"""

from __future__ import annotations

import argparse
import pkgutil
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("lowrank_sdp",)


def public_modules() -> list[str]:
    """Every public module of the packages, parents before children."""
    sys.path.insert(0, str(REPO))
    import importlib

    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "api")
    args = parser.parse_args(argv)
    import pdoc  # the dev extra

    modules = public_modules()
    pdoc.render.configure(docformat="numpy", footer_text="lowrank_sdp API reference")
    with warnings.catch_warnings():
        # pdoc also walks the submodules of a package it is given: listing both is harmless.
        warnings.filterwarnings("ignore", message="The module specification")
        pdoc.pdoc(*modules, output_directory=args.output)
    print(f"wrote {len(modules)} module pages to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
