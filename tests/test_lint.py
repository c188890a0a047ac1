"""The code passes the project's lint (ruff, configured in pyproject.toml): CI runs it through this test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install '.[test]')")
def test_the_code_passes_ruff():
    r = subprocess.run(["ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
