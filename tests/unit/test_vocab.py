"""The vocabularies are leaves: any layer may import them because they import nothing of app's but
each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import app.vocab

VOCAB = Path(app.vocab.__file__).parent
MODULES = sorted(path.stem for path in VOCAB.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_a_vocabulary_module_imports_nothing_of_app_but_other_vocabularies(name):
    tree = ast.parse((VOCAB / f"{name}.py").read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    outside = [module for module in imported if module.split(".")[0] == "app" and not module.startswith("app.vocab")]
    assert outside == []

