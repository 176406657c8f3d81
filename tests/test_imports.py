"""The layering rule in the imports: no module reaches into another module's private names.

The convention, checked on the syntax trees of every .py file under lowrank_sdp/, bnn/,
benchmarks/, scripts/ and tests/:

1. A private name (one leading underscore: `_x`, not `__x__`) belongs to the module that defines
   it. `from M import _x`, and `M._x` where `M` is a module, class or function imported from
   the project, are refused everywhere: what another module needs is public in the module that
   owns it, or lives in a shared module.
2. A private module (a dotted name with a part `_x`, e.g. `lowrank_sdp.solvers._common`,
   `lowrank_sdp.io._text`, `lowrank_sdp._interrupt`, `benchmarks._report`) is internal to its
   top-level package: any module of that package may import its *public* names, nothing outside
   the package may. So `bnn` and `benchmarks` see only lowrank_sdp's public modules.
3. Only tests and benchmarks may break 1 or 2 (a test of a private piece of the code it tests, a
   benchmark that measures or ablates an internal), and only where the line, the comment lines
   right above it, or the docstring of the function around it say why with the word "private".
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("lowrank_sdp", "bnn", "benchmarks", "scripts", "tests")
PACKAGES = ("lowrank_sdp", "bnn", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute dotted name an import statement refers to."""
    if level:
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))
    module = module or ""
    first = module.split(".")[0]
    # A script-style sibling import (`from _report import ...` in benchmarks/ run as a script).
    if first not in PACKAGES and first not in ROOTS and "." in importer:
        sibling = REPO.joinpath(*importer.split(".")[:-1], first + ".py")
        if sibling.exists():
            return importer.rsplit(".", 1)[0] + "." + module
    return module


def _ours(module: str) -> bool:
    return module.split(".")[0] in ROOTS


def _excused(lines: list[str], lineno: int, explained: set[int]) -> bool:
    """Does the line, the block of comment lines right above it, or the docstring of the function
    around it (`explained`: the lines of such functions) say why ("private")?"""
    if lineno in explained or "private" in lines[lineno - 1].lower():
        return True
    k = lineno - 2
    while k >= 0 and lines[k].strip().startswith("#"):
        if "private" in lines[k].lower():
            return True
        k -= 1
    return False


def violations(path: Path) -> list[str]:
    """Every place in `path` that breaks rule 1 or 2, as "file:line: what"."""
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    importer = _module_name(path)
    top = importer.split(".")[0]
    is_package = path.name == "__init__.py"
    bound: dict[str, str] = {}  # local name -> the project module (or module.name) it stands for
    found = []
    explained = {line for func in ast.walk(tree)
                 if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and "private" in (ast.get_docstring(func) or "").lower()
                 for line in range(func.lineno, func.end_lineno + 1)}

    def report(node: ast.AST, what: str) -> None:
        if not (top in ("tests", "benchmarks") and _excused(lines, node.lineno, explained)):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {what}")

    def check_module(node: ast.AST, module: str) -> None:
        parts = module.split(".")
        if _ours(module) and any(_private(p) for p in parts) and parts[0] != top:
            report(node, f"imports the private module {module} from outside {parts[0]}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(node, alias.name)
                if _ours(alias.name):
                    bound[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(importer, is_package, node.module, node.level)
            if not _ours(module):
                continue
            check_module(node, module)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if _private(alias.name):
                    if (REPO.joinpath(*full.split(".")).with_suffix(".py").exists()
                            or REPO.joinpath(*full.split("."), "__init__.py").exists()):
                        check_module(node, full)  # a private submodule: rule 2
                    else:
                        report(node, f"imports the private name {alias.name} from {module}")
                bound[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                report(node, f"reaches the private name {node.attr} of {bound[root.id]}")
    return found


def _files() -> list[Path]:
    return sorted(p for root in ROOTS for p in (REPO / root).rglob("*.py")
                  if ".venv" not in p.parts and "build" not in p.parts)


def test_no_module_reaches_into_another_modules_private_names():
    found = [v for path in _files() for v in violations(path)]
    assert not found, "\n".join(found)


def test_the_checker_sees_each_kind_of_violation(tmp_path, monkeypatch):
    """The rule can fail: each kind of reach-in is reported, and a test may excuse itself."""
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    (tmp_path / "lowrank_sdp" / "io").mkdir(parents=True)
    (tmp_path / "lowrank_sdp" / "io" / "_text.py").write_text("")
    (tmp_path / "tests").mkdir()
    cases = {
        "lowrank_sdp/a.py": "from lowrank_sdp.solve import _initial_point\n",
        "lowrank_sdp/b.py": "from lowrank_sdp.io.graph import Graph\nGraph._trusted(1, 2)\n",
        "lowrank_sdp/c.py": "from lowrank_sdp.io import _text\nfrom lowrank_sdp import solve\n"
                            "solve._negative\n",
        "bnn/d.py": "from lowrank_sdp.io._text import warn\n",
        "tests/test_e.py": "from lowrank_sdp.io import _text\n",
        "tests/test_f.py": "# private: the parser's own unit test\nfrom lowrank_sdp.io import _text\n",
        "benchmarks/h.py": 'from lowrank_sdp import rounding\ndef f():\n    """Ablates a private knob."""\n'
                           "    rounding._KNOB = 1\nrounding._KNOB\n",
        "lowrank_sdp/g.py": "from lowrank_sdp.validation import invalid\nimport sys\nsys._getframe\n",
    }
    reported = {}
    for name, source in cases.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        reported[name] = violations(path)
    assert len(reported["lowrank_sdp/a.py"]) == 1
    assert "_trusted" in reported["lowrank_sdp/b.py"][0]
    assert len(reported["lowrank_sdp/c.py"]) == 1 and "_negative" in reported["lowrank_sdp/c.py"][0]
    assert "private module lowrank_sdp.io._text" in reported["bnn/d.py"][0]
    assert len(reported["tests/test_e.py"]) == 1
    assert reported["tests/test_f.py"] == [] and reported["lowrank_sdp/g.py"] == []
    assert [v.split(":")[1] for v in reported["benchmarks/h.py"]] == ["5"]  # outside f only
