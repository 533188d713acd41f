"""The package's shape: no import circles, dependencies pointing one way down the pipeline's
layers, inversion independent of translation, and no oversized module. Parses every module's
imports (top-level and inside functions) with ``ast``; nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vec2vec", "inversion")
# module prefix -> layer; an import may only point to the same or a lower layer (longest prefix)
LAYERS = {
    "vec2vec.runtime": 0, "vec2vec.config": 0, "vec2vec.distributed": 0,
    "vec2vec.data.io": 0, "vec2vec.data.validation": 0,
    "vec2vec.data": 1, "vec2vec.neighbors": 1, "vec2vec.training": 1,
    "vec2vec.translators": 2, "vec2vec.selection": 2, "vec2vec.verdict": 2,
    "vec2vec.rundir": 3, "vec2vec.train": 3,
    "vec2vec.evaluate": 4, "vec2vec.align": 4,
    "inversion": 5,
    "vec2vec.audit": 6,
    "vec2vec.commands": 7, "vec2vec.cli": 7, "vec2vec": 7,
}
# what the inversion package may use of vec2vec: data, neighbours and the runtime utilities
INVERSION_MAY_USE = ("vec2vec.data", "vec2vec.neighbors", "vec2vec.runtime", "vec2vec.config",
                     "vec2vec.distributed", "vec2vec.training")
MAX_LINES = 600


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module an import refers to (``pkg.mod.attr`` -> ``pkg.mod``), or None."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for n in names:
            target = resolve(n, known)
            if target and target != mod and target.split(".")[0] in PACKAGES:
                found.add(target)
    # "from vec2vec.x import y" also listed vec2vec.x itself: keep the most specific targets
    return {t for t in found if not any(o != t and o.startswith(t + ".") for o in found)
            or t in known and not known[t].name == "__init__.py"}


def layer(mod: str) -> int:
    best = max((p for p in LAYERS if mod == p or mod.startswith(p + ".")), key=len)
    return LAYERS[best]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan): the import circles."""
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return cycles


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    """Imports from a module to a higher layer (the command front-ends are the top)."""
    return [f"{m} (layer {layer(m)}) -> {t} (layer {layer(t)})"
            for m, ts in g.items() for t in ts if layer(t) > layer(m)]


def test_no_import_circles():
    cycles = find_cycles(graph())
    assert not cycles, f"import circles: {cycles}"


def test_dependencies_point_down_the_layers():
    upward = upward_imports(graph())
    assert not upward, "imports pointing up the pipeline:\n" + "\n".join(upward)


def test_inversion_uses_only_data_and_neighbours():
    bad = [f"{m} -> {t}" for m, ts in graph().items() if m.startswith("inversion")
           for t in ts if t.startswith("vec2vec") and not t.startswith(INVERSION_MAY_USE)]
    assert not bad, "inversion must not depend on translation or audit:\n" + "\n".join(bad)


def test_the_checker_sees_a_circle_and_an_upward_arrow(tmp_path):
    """The checks above can fail: a planted circle (one import inside a function) and an upward
    import are both found, and the real graph does hold the imports it should."""
    known = {"vec2vec.data.a": tmp_path / "a.py", "vec2vec.data.b": tmp_path / "b.py",
             "vec2vec.audit.c": tmp_path / "c.py"}
    (tmp_path / "a.py").write_text("from vec2vec.data.b import x\nfrom vec2vec.audit.c import y\n")
    (tmp_path / "b.py").write_text("def f():\n    from vec2vec.data import a\n")
    (tmp_path / "c.py").write_text("import numpy\n")
    g = {m: imports(m, p, known) for m, p in known.items()}
    assert g == {"vec2vec.data.a": {"vec2vec.data.b", "vec2vec.audit.c"},
                 "vec2vec.data.b": {"vec2vec.data.a"}, "vec2vec.audit.c": set()}
    assert find_cycles(g) == [["vec2vec.data.a", "vec2vec.data.b"]]
    assert upward_imports(g) == ["vec2vec.data.a (layer 1) -> vec2vec.audit.c (layer 6)"]
    real = graph()
    assert "vec2vec.data.cache" in real["vec2vec.train"]
    assert "vec2vec.neighbors" in real["inversion.infer"]


def test_no_module_is_oversized():
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them by concern): {big}"
