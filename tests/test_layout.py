"""The shape of the house, read from the code: pedsense's modules import each other without cycles, no module imports
another only for its side effect, and none is over 450 lines (one home per concept; a module may grow to ~450 lines when it holds one idea)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "pedsense"
MODULES = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
           for p in PKG.rglob("*.py") if p.name != "_modidx.py"}


def pedsense_imports(name: str, path: Path) -> dict[str, set[str]]:
    "The pedsense modules `name` imports, each with the names it takes from it (empty: a plain `import`)."
    tree, out = ast.parse(path.read_text()), {}
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.startswith("pedsense"):
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    out.setdefault(sub if sub in MODULES else base, set()).add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("pedsense"): out.setdefault(a.name, set())
    return out


def test_no_cycles():
    graph = {m: set(pedsense_imports(m, p)) & set(MODULES) - {m} for m, p in MODULES.items()}
    state = {}
    def visit(m, path):
        if state.get(m) == "done": return
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        state[m] = "open"
        for n in sorted(graph[m]): visit(n, path + [m])
        state[m] = "done"
    for m in sorted(graph): visit(m, [])


def test_no_side_effect_imports():
    for m, p in MODULES.items():
        src = p.read_text()
        for mod, names in pedsense_imports(m, p).items():
            if names or mod == "pedsense": continue               # `import pedsense` is for its __version__
            used = mod in src.replace(f"import {mod}", "", 1)
            assert used, f"{m} imports {mod} but never uses it: an import for its side effect"


def test_small_modules():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 450}
    assert not big, f"modules over 450 lines: {big}"
