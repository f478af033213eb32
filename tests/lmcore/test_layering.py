"""The one direction, webapp → workers → lmcore: lmcore imports nothing of the web stack (every
module imports where those cannot), no two lmcore modules import each other, no two webapp
modules import each other, and webapp imports nothing from workers but the Celery app
(docs/architecture.md, "Layers")."""

import ast
import graphlib
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    FORBIDDEN = {"django", "celery", "channels", "channels_redis", "daphne", "kombu",
                 "webapp", "workers"}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"lmcore must not import {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    import lmcore
    names = [m.name for m in pkgutil.walk_packages(lmcore.__path__, "lmcore.")
             if m.name != "lmcore.__main__"]
    for name in names:
        importlib.import_module(name)
    print(len(names))
    """
)


def test_every_lmcore_module_imports_without_the_web_stack():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 3  # cli, errors, commands at the very least


def test_the_probe_would_catch_a_forbidden_import(tmp_path):
    (tmp_path / "lmcore").mkdir()
    (tmp_path / "lmcore" / "__init__.py").write_text("")
    (tmp_path / "lmcore" / "bad.py").write_text("import django\n")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "lmcore must not import django" in result.stderr


def package_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (in functions, under TYPE_CHECKING)."""
    files = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (root / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                parent = base.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(filter(None, [parent, node.module or ""]))
                targets.update(f"{module}.{alias.name}" for alias in node.names)
                targets.add(module)
        # A module's own packages are imported first anyway: only real edges make a circle.
        graph[name] = {t for t in targets if t in files and not name.startswith(t + ".")} - {name}
    return graph


def import_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, as the list of modules along it, or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_lmcore_modules_form_no_import_circle():
    graph = package_imports(ROOT, "lmcore")
    assert "lmcore.data" in graph["lmcore.train"]  # the scan sees real imports
    assert import_circle(graph) is None, " -> ".join(import_circle(graph))


def test_webapp_modules_form_no_import_circle():
    """Even through imports inside functions, which only hide a circle from the interpreter."""
    graph = package_imports(ROOT, "webapp")
    assert "webapp.corpora.models" in graph["webapp.corpora.actions"]  # real imports are seen
    assert "webapp.deletion.plans" in graph["webapp.deletion.actions"]
    assert import_circle(graph) is None, " -> ".join(import_circle(graph))


def test_the_circle_check_would_catch_two_modules_importing_each_other(tmp_path):
    (tmp_path / "lmcore").mkdir()
    (tmp_path / "lmcore" / "__init__.py").write_text("")
    (tmp_path / "lmcore" / "a.py").write_text("def f():\n    from lmcore.b import g\n")
    (tmp_path / "lmcore" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
    )
    assert sorted(import_circle(package_imports(tmp_path, "lmcore"))) == [
        "lmcore.a",
        "lmcore.a",
        "lmcore.b",
    ]


def test_the_circle_check_reads_a_package_of_packages(tmp_path):
    (tmp_path / "webapp" / "limits").mkdir(parents=True)
    for name in ("webapp/__init__.py", "webapp/limits/__init__.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "webapp" / "limits" / "policy.py").write_text("from . import storage\n")
    (tmp_path / "webapp" / "limits" / "storage.py").write_text(
        "def f():\n    from webapp.limits.policy import limits_for\n"
    )
    circle = import_circle(package_imports(tmp_path, "webapp"))
    assert sorted(set(circle)) == ["webapp.limits.policy", "webapp.limits.storage"]


def web_imports_of_workers(root: Path) -> list[str]:
    """`file:line import` for each import of workers code in webapp/ other than the Celery app."""
    found = []
    for path in sorted((root / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == "workers"]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                module = node.module or ""
                allowed = module == "workers.app" and [a.name for a in node.names] == ["app"]
                names = [] if allowed or module.split(".")[0] != "workers" else [module]
            else:
                continue
            found += [f"{path.relative_to(root)}:{node.lineno} {name}" for name in names]
    return found


def test_webapp_imports_nothing_from_workers_but_the_celery_app():
    assert web_imports_of_workers(ROOT) == []


def test_the_web_check_would_catch_an_import_of_task_code(tmp_path):
    (tmp_path / "webapp" / "runs").mkdir(parents=True)
    (tmp_path / "webapp" / "ok.py").write_text("from workers.app import app\n")
    (tmp_path / "webapp" / "runs" / "actions.py").write_text(
        "def go():\n    from workers.training import train\n    import workers.tasks\n"
    )
    assert web_imports_of_workers(tmp_path) == [
        "webapp/runs/actions.py:2 workers.training",
        "webapp/runs/actions.py:3 workers.tasks",
    ]
