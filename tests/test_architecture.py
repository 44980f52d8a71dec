"""The layout's rules, checked on the source: layers, no cycles, a pure core.

skadv is layered (docs/architecture.md): a module imports only from its own
layer or below, and the import graph has no cycles. Function-level imports
count like module-level ones -- a lazy import that dodges a cycle is still a
cycle. Optional libraries (pandas, matplotlib, tqdm, dask, xgboost, ...) are
not skadv modules and may be imported lazily anywhere.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "skadv"

# Layer of each part, lowest first; the longest matching prefix decides.
LAYERS = {
    "skadv.exceptions": 0,
    "skadv._config": 0,
    "skadv.utils": 0,
    "skadv.constraints": 1,
    "skadv._core": 1,
    "skadv._core.plan": 2,
    "skadv.verify": 2,
    "skadv._core.train": 3,
    "skadv.models": 4,
    "skadv.attacks": 5,
    "skadv.defenses": 6,
    "skadv.metrics": 7,
    "skadv.evaluation": 7,
    "skadv.plotting": 7,
    "skadv._html_report": 7,
    "skadv.datasets": 7,
    "skadv.cli": 8,
    "skadv._study": 8,
    "skadv.__main__": 8,
}
# Pure numerical code: NumPy, SciPy, JAX, optax; no scikit-learn.
PURE = ("skadv._core", "skadv.verify")
MAX_LINES = 700
# A longer file says why in its docstring, with this phrase.
LONG_FILE_REASON = "Why one file:"


def _modules():
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """Every module ``name`` imports (skadv modules resolved), at any depth."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            subs = [f"{target}.{a.name}" for a in node.names]
            known = [s for s in subs if s in MODULES]
            yield from known
            if len(known) < len(subs):
                yield target


def _graph():
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for target in _imports(name, path):
            if not target.startswith("skadv"):
                continue
            # Importing a.b.c runs a.b's __init__ too (but not skadv's own,
            # which every module needs and which only re-exports).
            parts = target.split(".")
            for k in range(2, len(parts) + 1):
                dep = ".".join(parts[:k])
                if dep in MODULES and dep != name and not name.startswith(dep + "."):
                    deps.add(dep)
        graph[name] = deps
    return graph


def _layer(name):
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len,
               default=None)
    return None if best is None else LAYERS[best]


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "skadv" and _layer(m) is None] == []


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    upward = [(m, d) for m, deps in _graph().items() if m != "skadv" for d in deps
              if _layer(d) > _layer(m)]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize("prefix", PURE)
def test_pure_layers_import_no_scikit_learn(prefix):
    offenders = [(m, t) for m, path in MODULES.items()
                 if m == prefix or m.startswith(prefix + ".")
                 for t in _imports(m, path) if t.split(".")[0] == "sklearn"
                 or (t.startswith("skadv") and _layer(t) is not None
                     and _layer(t) >= LAYERS["skadv.models"])]
    assert offenders == []


def test_files_stay_small_or_say_why():
    long = []
    for name, path in MODULES.items():
        n = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if n > MAX_LINES and LONG_FILE_REASON not in doc:
            long.append((name, n))
    assert long == []


def test_packages_import_eagerly():
    # A package that loads its names on first use (module __getattr__) hides
    # a cycle; none does.
    lazy = [m for m, path in MODULES.items() if path.name == "__init__.py"
            and any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                    for n in ast.parse(path.read_text()).body)]
    assert lazy == []
