"""Do the layers import only what ARCHITECTURE.md allows? Is every public name exported once?

The import table (who may import whom inside exospin) is checked by parsing
every module with ``ast``: imports under ``if TYPE_CHECKING:`` count too.
Modules at the top of the package (systems, cli, posix, ...) and the demos/
package are the glue and are not restricted here.

No modules of exospin, in any layer, import one another round a circle: an import
under ``TYPE_CHECKING`` or inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "exospin"

#: layer -> the exospin layers it may import ("root" is the package itself: __version__).
#: ``posix`` is the portable interface: definitions only, importing nothing of exospin.
#: A library OS implements it (so exos may import it) and benchmarks run applications
#: written against it (so bench may too).
ALLOWED: dict[str, set[str]] = {
    "machine": {"machine"},
    # net: frames (dpkt), pcap captures and the packet demultiplexers (DPF and its
    # baselines): a leaf over the machine's costs, which the kernels adopt
    "net": {"net", "machine"},
    "verifier": {"verifier"},
    "aegis": {"aegis", "machine", "verifier", "net"},
    "exos": {"exos", "aegis", "posix", "net"},  # net: ExOS' protocols build and parse frames with net/frames.py
    # spin.libunix, the user half of SPIN's Unix extension, implements posix
    "spin": {"spin", "machine", "verifier", "posix", "net"},
    "unix": {"unix", "machine", "posix", "net"},  # the kernel imports machine only; its user library (libc, uthreads) implements posix
    "posix": {"posix"},
    "apps": {"apps", "posix"},
    # verifier: the audit weighs code with the verifier's cost model and knows its budget hook;
    # apps: an experiment runs an application (posix only) on every system (checkpoint_suite)
    "bench": {"bench", "systems", "machine", "posix", "spin", "verifier", "root", "net", "apps"},
}

#: Imports that break the table today, each with the reason it is tolerated.
#: test_are_the_known_violations_still_there makes this list shrink when they are fixed.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    ("exospin.bench.aegis_suite", "aegis"): "names NSLICES, STLB_ENTRIES and the Syscalls type",
    ("exospin.bench.aegis_suite", "exos"): "writes MiniOS page-table entries (PTE) directly",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    return parts[1]


def is_package(module: str) -> bool:
    return (SRC.parent / module.replace(".", "/") / "__init__.py").exists()


def imported_modules(path: Path) -> list[str]:
    """Every exospin module ``path`` imports, with relative imports resolved."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "exospin"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "exospin":
                continue
            if target == "exospin":  # ``from .. import x``: x may be a subpackage
                out += [f"exospin.{a.name}" if (SRC / a.name).exists() or (SRC / f"{a.name}.py").exists()
                        else "exospin" for a in node.names]
            else:
                out.append(target)
    return out


MODULES = sorted(SRC.rglob("*.py"))


def violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in MODULES:
        me = module_name(path)
        mine = layer_of(me)
        if mine not in ALLOWED:
            continue
        for target in imported_modules(path):
            theirs = layer_of(target)
            if theirs not in ALLOWED[mine]:
                found[(me, theirs)] = target
    return found


def test_does_every_layer_import_only_what_the_architecture_allows():
    found = {k: v for k, v in violations().items() if k not in KNOWN_VIOLATIONS}
    assert not found, "\n".join(f"{m} imports {t} (layer {layer})" for (m, layer), t in sorted(found.items()))


def test_are_the_known_violations_still_there():
    found = violations()
    fixed = [k for k in KNOWN_VIOLATIONS if k not in found]
    assert not fixed, f"fixed, so remove from KNOWN_VIOLATIONS: {fixed}"


def test_does_exos_use_only_the_public_names_of_aegis():
    # "exos reaches the machine only through aegis' public interface"
    for path in (SRC / "exos").rglob("*.py"):
        for target in imported_modules(path):
            if layer_of(target) == "aegis":
                assert target == "exospin.aegis", f"{module_name(path)} reaches into {target}"


# ------------------------------------------------------------ import circles


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the package at ``root`` it imports, wherever the import
    stands: at the top, under ``if TYPE_CHECKING:`` or inside a function (an import moved
    into a function only hides a circle). ``from package import name`` counts as
    importing the submodule when ``name`` is one. A submodule's implicit import of its
    own package is left out: it is how Python loads packages, not a dependency."""
    top = root.name

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    paths = {name_of(p): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for me, path in paths.items():
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.split(".")[0] == top}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != top:
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    out.add(sub if sub in paths else target)
        graph[me] = {t for t in out if t in paths and t != me}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each sorted): every
    set of modules that import one another, directly or round a circle (Tarjan's
    algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    circles.append(sorted(comp))
    return sorted(circles)


#: Import circles tolerated for a while, each (its modules, sorted) with the reason, as
#: KNOWN_VIOLATIONS: test_are_the_known_circles_still_there makes the list shrink. Empty.
KNOWN_CIRCLES: dict[tuple[str, ...], str] = {}


def test_do_the_modules_of_exospin_import_one_another_in_no_circle():
    # Every layer, spin/ included: a circle is broken by moving what both sides need
    # into a module that imports neither (aegis/messages.py, unix/coremap.py, a Protocol).
    graph = import_graph(SRC)
    circles = [c for c in import_circles(graph) if tuple(c) not in KNOWN_CIRCLES]
    assert not circles, "import circles:\n" + "\n".join(
        " <-> ".join(c) + "\n    " + "; ".join(f"{m} imports {sorted(graph[m] & set(c))}" for m in c)
        for c in circles)


def test_are_the_known_circles_still_there():
    found = {tuple(c) for c in import_circles(import_graph(SRC))}
    fixed = [c for c in KNOWN_CIRCLES if c not in found]
    assert not fixed, f"broken, so remove from KNOWN_CIRCLES: {fixed}"


def test_does_the_circle_finder_see_circles_through_type_checking_and_functions(tmp_path):
    # A package with two circles, each closed by an import the finder must not miss:
    # one under TYPE_CHECKING (a <-> b), one inside a function through a package's
    # __init__ (c -> sub -> sub.d -> c); e imports a but nothing imports e.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import thing\n",
        "c.py": "def f():\n    from . import sub\n",
        "sub/__init__.py": "from .d import x\n",
        "sub/d.py": "import pkg.c\n",
        "e.py": "from .a import thing\nimport os\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.sub"} and graph["pkg.sub"] == {"pkg.sub.d"}
    assert import_circles(graph) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub", "pkg.sub.d"]]
    (pkg / "b.py").write_text("")  # the first circle broken
    assert import_circles(import_graph(pkg)) == [["pkg.c", "pkg.sub", "pkg.sub.d"]]


def test_does_the_layering_check_see_relative_imports():
    # The checker itself: machine/cpu.py imports .events under TYPE_CHECKING, aegis
    # imports ..machine, and bench imports the root package for __version__.
    assert "exospin.machine.events" in imported_modules(SRC / "machine" / "cpu.py")
    assert "exospin.machine" in imported_modules(SRC / "aegis" / "kernel.py")
    bench = [t for p in (SRC / "bench").rglob("*.py") for t in imported_modules(p)]
    assert "exospin" in bench


PUBLIC_LAYERS = ["exospin.machine", "exospin.aegis", "exospin.exos", "exospin.verifier", "exospin.spin", "exospin.unix",
                 "exospin.net"]


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_does_every_name_in_all_exist_and_appear_once(name):
    mod = importlib.import_module(name)
    names = list(mod.__all__)
    assert len(names) == len(set(names)), f"exported twice: {sorted(n for n in names if names.count(n) > 1)}"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, missing
    public = {n for n, v in vars(mod).items() if not n.startswith("_") and not inspect.ismodule(v)
              and n != "annotations"}
    assert public == set(names), f"public but not in __all__: {sorted(public - set(names))}"


def test_is_every_public_name_exported_by_one_layer_only():
    seen: dict[str, str] = {}
    for name in PUBLIC_LAYERS:
        for n in importlib.import_module(name).__all__:
            assert n not in seen, f"{n} is exported by both {seen[n]} and {name}"
            seen[n] = name


def test_is_net_a_leaf_that_only_kernels_and_benchmarks_import():
    # net -> {net, machine}; of the layers, only aegis, spin, unix, bench and exos (the library
    # OS's protocols build and parse frames with net/frames.py) may import net
    for path in (SRC / "net").rglob("*.py"):
        assert {layer_of(t) for t in imported_modules(path)} <= {"net", "machine"}, module_name(path)
    users = {layer for layer, allowed in ALLOWED.items() if "net" in allowed and layer != "net"}
    assert users == {"aegis", "spin", "unix", "bench", "exos"}
    assert "exospin.net" in [t for p in (SRC / "bench").rglob("*.py") for t in imported_modules(p)]
