"""The package layout keeps its promises: no import cycles, heavy libraries only where used, thin commands."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lmstats"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (module-level statements only, not inside functions)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are not executed
            continue
    return out


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in top_level_imports(p) if m in MODULES and m != name} for name, p in MODULES.items()}


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(name, trail):
        if state.get(name) == 1:
            pytest.fail("import cycle: " + " -> ".join(trail[trail.index(name):] + [name]))
        if state.get(name) == 2:
            return
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            visit(dep, trail + [name])
        state[name] = 2

    for name in sorted(GRAPH):
        visit(name, [])


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(GRAPH[name] | {parent for parent in _parents(name) if parent in MODULES})
    return seen


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_the_cli_imports_no_heavy_library_at_start():
    """torch, scipy, pandas and matplotlib are imported inside the commands that use them."""
    heavy = {"torch", "scipy", "pandas", "matplotlib"}
    for name in sorted(reachable("lmstats.cli")):
        roots = {m.split(".")[0] for m in top_level_imports(MODULES[name])}
        assert not roots & heavy, f"{name} imports {sorted(roots & heavy)} at module level, and the CLI imports {name}"


def test_no_noqa_e402_and_no_vague_module_names():
    for name, path in MODULES.items():
        assert "noqa: E402" not in path.read_text(), name
        assert path.stem not in {"utils", "helpers", "common", "misc"}, name


def test_command_bodies_fit_one_screen():
    """Every click command is parse -> library call -> print: at most 40 lines of body."""
    for path in (PACKAGE / "cli").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any("command" in ast.unparse(d) for d in node.decorator_list):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body  # without the docstring
                lines = body[-1].end_lineno - body[0].lineno + 1
                assert lines <= 40, f"{path.name}:{node.name} has {lines} lines of body"


def test_no_module_over_450_lines():
    """A module that grows past 450 lines holds more than one concept: give the next one a file of its own."""
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 450}
    assert not long, long


def test_the_readme_map_names_every_module():
    """The README's map of the code ("Development") names every module, so a reader finds each concept's home."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme[readme.index("## Development"):]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    missing = [name for name, path in MODULES.items()
               if path.stem != "__init__" and path.relative_to(PACKAGE).as_posix() not in section]
    assert not missing, f"the README's map lacks {missing}"


def test_every_package_is_installed():
    """pyproject.toml lists every package, so a non-editable install (the README's first command) has them all."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, sorted(packages - listed)
