"""lmcore imports nothing of the web stack: every module imports where those cannot."""

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
