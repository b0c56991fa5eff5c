"""requirements.txt and pyproject.toml name every distribution that the package, the chapters,
the tests and the experiments import (the standard library aside), so that a fresh venv made
from requirements.txt alone runs all of them."""

import ast
import json
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """Distribution names in requirements.txt and in pyproject's dependencies."""
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(_normalise(re.split(r"[<>=!~;\[ ]", line)[0]))
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject, re.S | re.M).group(1)
    names |= {_normalise(re.split(r"[<>=!~;\[ ]", dep)[0]) for dep in re.findall(r'"([^"]+)"', block)}
    return names


def _top_level_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imports() -> dict[str, set[str]]:
    """Top-level module name -> the files that import it."""
    sources = {path: path.read_text() for folder in ("dreamer_lite", "tests", "experiments")
               for path in (ROOT / folder).glob("*.py")}
    for notebook in (ROOT / "book").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        sources[notebook] = "\n".join(
            line for cell in cells if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
    found: dict[str, set[str]] = {}
    for path, source in sources.items():
        for module in _top_level_imports(source):
            found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


def local_modules() -> set[str]:
    """The project's own modules: the package and the scripts that import one another."""
    return {"dreamer_lite"} | {path.stem for folder in ("tests", "experiments")
                               for path in (ROOT / folder).glob("*.py")}


def test_every_import_is_declared():
    providers = packages_distributions()
    wanted, missing, not_installed = declared(), [], []
    for module, files in sorted(imports().items()):
        if module in sys.stdlib_module_names or module in local_modules():
            continue
        distributions = {_normalise(d) for d in providers.get(module, [])}
        if not distributions:
            not_installed.append(f"{module} (imported by {', '.join(sorted(files))})")
        elif not distributions & wanted:
            missing.append(f"{module}: distribution {' or '.join(sorted(distributions))} "
                           f"(imported by {', '.join(sorted(files))})")
    assert not not_installed, "imported but not installed here: " + "; ".join(not_installed)
    assert not missing, "imported but not in requirements.txt or pyproject.toml: " + "; ".join(missing)


def test_the_scan_sees_the_imports():
    found = imports()
    assert "tensorflow" in found and "scipy" in found and "yaml" in found
    assert any(path.endswith(".ipynb") for path in found["scipy"])
