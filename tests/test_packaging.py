"""Packaging: the version is written once, and every way of asking for it agrees."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import backburner
from backburner.cli import main

ROOT = Path(__file__).parent.parent


def test_the_build_reads_the_version_from_the_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"], "written once, in backburner/__init__.py"
    assert "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "backburner.__version__"}


def test_the_cli_reports_the_version_of_the_code_that_runs() -> None:
    shown = CliRunner().invoke(main, ["--version"]).output
    assert shown.strip().endswith(f"version {backburner.__version__}")


def test_the_changelog_has_a_section_for_unreleased_changes() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "\n## [Unreleased]\n" in changelog


def test_the_wheel_ships_every_dashboard_template_and_static_file() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["backburner"]
    package = ROOT / "src" / "backburner"
    assets = [
        path.relative_to(package)
        for folder in ("dashboard/templates", "dashboard/static")
        for path in (package / folder).rglob("*")
        if path.is_file()
    ]
    assert assets
    unshipped = [str(a) for a in assets if not any(a.match(p) for p in patterns)]
    assert unshipped == [], "add them to [tool.setuptools.package-data]"
