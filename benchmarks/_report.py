"""Shared helpers for benchmark scripts: machine metadata and markdown sections in docs/.

Several scripts write to the same markdown file; each owns one section between markers
``<!-- BEGIN name -->`` and ``<!-- END name -->`` and rewrites only that section.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(packages: tuple[str, ...] = ("numpy", "scipy", "numba")) -> dict:
    """CPU, cores, memory, OS, Python and library versions, and the date: for every results file."""
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    info["versions"] = versions
    return info


def machine_line(info: dict) -> str:
    """One markdown line naming the machine a table was measured on."""
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items() if v)
    mem = f", {info['memory_gib']} GiB" if "memory_gib" in info else ""
    return (
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores{mem}), "
        f"Python {info['python']}; {versions}."
    )


def command_line() -> str:
    """The command that is running, as a reader would retype it (`python benchmarks/x.py ...`)."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(REPO):
        script = script.relative_to(REPO)
    return " ".join(["python", str(script), *map(shlex.quote, sys.argv[1:])])


def write_section(filename: str, name: str, markdown: str, title: str | None = None) -> Path:
    """Replace (or append) the section `name` of docs/`filename` with `markdown`, which gets a
    line naming the command that wrote it unless it names one itself ("Written by ...")."""
    if "Written by" not in markdown:
        lines = markdown.lstrip().split("\n")
        at = 1 if lines[0].startswith("#") else 0
        lines[at:at] = ([""] if at else []) + [f"Written by `{command_line()}`."] + ([] if at else [""])
        markdown = "\n".join(lines)
    path = DOCS / filename
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"# {title or filename}\n\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
