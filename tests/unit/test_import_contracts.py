"""The import-linter contracts hold the house, and each one bites.

``lint-imports`` runs in the README's test command on the real tree. Here every contract is shown
to catch the kind of import it exists for: the tree is copied, one import is added, and the
named contract must then be broken. Most added imports are ones the code really had before the
labeling sub-packages (the example says which).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "routing", "safety", "labeling", "storage")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (contract name starts with, module file, import added, what it stands for)
VIOLATIONS = [
    ("Layers: app -> routing", "labeling/project/tasks.py", "import safety.taxonomy",
     "labeling reading the safety taxonomy instead of getting it as data"),
    ("Layers: app -> routing", "storage/models.py", "import labeling.exceptions",
     "storage importing domain code"),
    ("Inside labeling", "labeling/review/label_issues.py", "import labeling.lifecycle.training",
     "before: label_issues took training_set from training (review above lifecycle)"),
    ("Inside labeling", "labeling/ml/simulation.py", "import labeling.dataio.tabular",
     "before: simulation read labeled files itself (ml and dataio are independent)"),
    ("The pure and file parts", "labeling/metrics/agreement.py", "import storage.db",
     "a pure measure reaching for the database"),
    ("The pure and file parts", "labeling/ml/simulation.py", "import altair",
     "before: simulation built the learning-curve chart"),
    ("Pages and components", "app/app_pages/home.py", "from storage.repositories import summary",
     "before: the home page queried the summary repository"),
    ("Pages and components", "app/app_pages/label.py", "import sqlalchemy.exc",
     "before: the label page caught the driver's OperationalError"),
    ("The app reaches storage", "app/demo.py", "from storage.repositories import tracks",
     "before: the demo wrote through repositories past the services"),
    ("Charts are built only", "app/app_pages/models.py", "import altair",
     "a page building its own chart"),
    ("Only app imports streamlit", "labeling/review/quality.py", "import streamlit",
     "a service touching the UI"),
]


def _contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, timeout=120)


def _broken(output: str, prefix: str) -> bool:
    """Whether lint-imports reported the contract whose name starts with ``prefix`` broken
    (it wraps long names over lines, so white space is folded first)."""
    name = next(n for n in _contract_names() if n.startswith(prefix))
    folded = " ".join(output.split())
    assert f"{name} KEPT" in folded or f"{name} BROKEN" in folded, output
    return f"{name} BROKEN" in folded


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("house")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_every_contract_is_exercised_here():
    names = _contract_names()
    assert len(names) == 7
    assert {next(n for n in names if n.startswith(prefix)) for prefix, *_ in VIOLATIONS} == \
        set(names)


def test_the_copied_tree_keeps_every_contract(tree):
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(_broken(result.stdout, name) for name in _contract_names())


@pytest.mark.parametrize(("contract", "module", "line", "meaning"), VIOLATIONS,
                         ids=[f"{c.split(':')[0]}:{m}" for c, m, *_ in VIOLATIONS])
def test_each_contract_catches_its_violation(tree, contract, module, line, meaning):
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # injected: {meaning}\n", encoding="utf-8")
    try:
        result = _lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    assert _broken(result.stdout, contract), result.stdout
