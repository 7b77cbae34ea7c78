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


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)): yield node


def test_short_functions():
    "No function over 40 lines (its body, docstring included): a long function is two."
    long = {f"{m}.{f.name}": f.end_lineno - f.lineno for m, p in MODULES.items() for f in _functions(ast.parse(p.read_text()))
            if f.end_lineno - f.lineno > 40}
    assert not long, f"functions over 40 lines: {long}"


def _public_signatures():
    "(module, name, object, parameters) of every public callable of pedsense whose signature can be read."
    import importlib, inspect
    for m in MODULES:
        if m.endswith("__main__"): continue
        mod = importlib.import_module(m)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not callable(obj): continue
            try: params = list(inspect.signature(obj).parameters.values())
            except (TypeError, ValueError): continue
            yield m, name, obj, params


def test_keyword_only_after_three():
    "A public function (or class) with more than three parameters takes the ones after the third by keyword."
    import dataclasses
    bad = []
    for m, name, obj, params in _public_signatures():
        if getattr(obj, "__module__", m) != m or dataclasses.is_dataclass(obj): continue   # records: fields by name
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
        if len(positional) > 3: bad.append(f"{m}.{name}({', '.join(p.name for p in positional)})")
    assert not bad, f"more than three positional parameters: {bad}"


OLD_NAMES = {"seq_len", "obs_len", "lr", "bs", "parts", "until", "wd"}   # one vocabulary: sequence_length, learning_rate, batch_size, ...

def test_one_vocabulary():
    "No public function takes a setting under an old or short name."
    found = [f"{m}.{name}: {p.name}" for m, name, _, params in _public_signatures() for p in params if p.name in OLD_NAMES]
    assert not found, f"settings under other names: {found}"


FASTAI_INTERNALS = ("recorder.smooth_loss", "._broadcast", ".n_inp", "recorder.values", "default_device", "defaults.use_cuda", "learn.scaler", ".rng")

def test_fastai_internals_in_one_module():
    "Every use of a fastai internal lives in pedsense.fastai_internals, where each has a test."
    uses = {m: [k for k in FASTAI_INTERNALS if k in p.read_text()] for m, p in MODULES.items() if m != "pedsense.fastai_internals"}
    uses = {m: k for m, k in uses.items() if k}
    assert not uses, f"fastai internals used outside pedsense.fastai_internals: {uses}"
