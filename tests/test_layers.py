"""The folder tree is the architecture: tdsim's imports run one way, from the compiled core up to
the command line, and never in a circle (docs/architecture.md). Walks every import statement of
every module with ``ast`` (imports inside functions too: a lazy import is still a dependency)."""
import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "tdsim"
# lowest first; modules of one layer may import each other (io and rules are one floor)
LAYERS = [("errors", "version", "_cache"), ("core",), ("model",), ("compile",), ("simulation",), ("io", "rules"), ("testing",),
          ("studies",), ("runs",), ("analysis",), ("cli", "__init__")]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and docs/architecture.md")


def imports(path: Path, module: str):
    """(line, imported tdsim module) of every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "tdsim" or a.name.startswith("tdsim."):
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base != "tdsim" and not base.startswith("tdsim."):
                continue
            for a in node.names:        # "from tdsim.core import engine" imports tdsim.core.engine
                sub = f"{base}.{a.name}"
                yield node.lineno, sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() else base


def graph():
    g = nx.DiGraph()
    for path in sorted(ROOT.rglob("*.py")):
        mod = module_name(path)
        g.add_node(mod)
        for line, target in imports(path, mod):
            if target != mod:
                g.add_edge(mod, target, line=line, path=path)
    return g


def test_imports_run_from_the_core_up():
    g = graph()
    wrong = [f"{d['path'].relative_to(ROOT.parent)}:{d['line']}: {a} (layer {LAYERS[layer_of(a)]}) imports {b} "
             f"(layer {LAYERS[layer_of(b)]})"
             for a, b, d in g.edges(data=True) if layer_of(b) > layer_of(a)]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:10])


def test_core_imports_nothing_else_of_tdsim():
    g = graph()
    out = [(a, b) for a, b in g.edges if a.startswith("tdsim.core") and not b.startswith("tdsim.core")
           and b not in ("tdsim.errors",)]
    assert not out, out


def test_no_private_names_across_packages():
    """A module may use another module's private names (``_read``) only inside its own subpackage."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tdsim."):
                src_pkg = node.module.split(".")[1]
                own_pkg = mod.split(".")[1] if mod.count(".") else ""
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") and src_pkg != own_pkg:
                        bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {a.name} from {node.module}")
    assert not bad, "\n".join(bad)


def test_the_test_sees_a_wrong_import(tmp_path):
    """The walker resolves relative imports: a core module importing the model is caught."""
    mod = ROOT / "core" / "kernels.py"
    fake = [(ln, t) for ln, t in imports(mod, "tdsim.core.kernels")]
    assert all(t.startswith("tdsim.core") for _, t in fake)
    p = tmp_path / "x.py"
    p.write_text("from ..model import circuit\nfrom . import linalg\n")
    got = [t for _, t in imports(p, "tdsim.core.x")]
    assert got == ["tdsim.model.circuit", "tdsim.core.linalg"]
    assert layer_of(got[0]) > layer_of("tdsim.core.x")
