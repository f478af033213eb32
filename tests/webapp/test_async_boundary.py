"""Async code holds no model instance (docs/architecture.md, "OpenAI-compatible API"): a lazy
relation read on one queries the database on the event loop, which Django refuses with
`SynchronousOnlyOperation` (a 500). The rule, checked on the source: a module of `webapp/` that
defines an `async def` imports no models module and nothing of `django.db`, and asks for no
`request.auser()`; it gets plain values from a synchronous lookup through `sync_to_async`."""

from __future__ import annotations

import ast
from pathlib import Path

import webapp

ROOT = Path(webapp.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT.parent)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(ROOT.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _is_async(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.AsyncFunctionDef) for node in ast.walk(tree))


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def _forbidden(name: str) -> bool:
    parts = name.lstrip(".").split(".")
    return name.startswith("django.db") or parts[-1] == "models"


def _violations(tree: ast.Module) -> list[str]:
    found = [f"imports {name}" for name in _imported(tree) if _forbidden(name)]
    found += [
        "calls auser()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "auser"
    ]
    return found


def test_async_modules_import_no_models_and_no_django_db():
    modules = _modules()
    async_modules = [name for name, tree in modules.items() if _is_async(tree)]
    assert "webapp/api/endpoints.py" in async_modules  # the check sees what it must
    assert "webapp/playground/consumers.py" in async_modules
    bad = {name: _violations(modules[name]) for name in async_modules}
    assert {name: why for name, why in bad.items() if why} == {}


def test_the_check_catches_each_kind_of_violation():
    for source, why in [
        ("from webapp.registry.models import ModelVersion", "imports webapp.registry.models"),
        ("from webapp.api import models", "imports webapp.api.models"),
        ("from .models import Corpus", "imports .models"),
        ("import django.db.models", "imports django.db.models"),
        ("from django.db import connection", "imports django.db"),
        ("async def view(request):\n    user = await request.auser()", "calls auser()"),
    ]:
        assert why in _violations(ast.parse(source)), source
