"""Write the API reference (HTML, one page per public module) from the docstrings, with pdoc.

    python scripts/api_docs.py              # writes docs/api/ (open docs/api/index.html)
    python scripts/api_docs.py -o DIR       # somewhere else
    make api-docs                           # the same as the first line

A public module is one of `lowrank_sdp` whose dotted name has no part starting with "_" (the
private helpers, such as `lowrank_sdp.validation`, are not part of the API).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import typing
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("lowrank_sdp", "bnn")


def public_modules() -> list[str]:
    """Every public module of the packages, parents before children."""
    sys.path.insert(0, str(REPO))
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def resolve_constructor_annotations(module_name: str) -> None:
    """Give the generated constructors of dataclasses and NamedTuples resolved annotations.

    Their ``__init__``/``__new__`` carry the fields' annotations as strings (``from __future__
    import annotations``) but are evaluated by pdoc in the wrong namespace: a NamedTuple's
    ``__new__`` lives in a synthetic module, and a dataclass's ``__init__`` in the module of the
    subclass, which need not import the names its base's fields use. ``typing.get_type_hints`` on
    the class resolves each field where it was declared.
    """
    module = importlib.import_module(module_name)
    for cls in list(vars(module).values()):
        if not isinstance(cls, type) or cls.__module__ != module_name:
            continue
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # a class whose own annotations do not resolve: pdoc reports it
            continue
        for name in ("__init__", "__new__"):
            fn = cls.__dict__.get(name)
            annotations = getattr(getattr(fn, "__func__", fn), "__annotations__", None)
            for field, annotation in (annotations or {}).items():
                if isinstance(annotation, (str, typing.ForwardRef)) and field in hints:
                    annotations[field] = hints[field]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "api")
    args = parser.parse_args(argv)
    import pdoc  # the dev extra

    modules = public_modules()
    for module in modules:
        resolve_constructor_annotations(module)
    pdoc.render.configure(docformat="numpy", footer_text="lowrank_sdp API reference")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # pdoc also walks the submodules of a package it is given: listing both is harmless.
        warnings.filterwarnings("ignore", message="The module specification")
        pdoc.pdoc(*modules, output_directory=args.output)
    print(f"wrote {len(modules)} module pages to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
