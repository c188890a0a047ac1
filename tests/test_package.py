"""The library surface: what a notebook needs is importable from `vjepa_ac` itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vjepa_ac


@pytest.mark.parametrize("name", vjepa_ac.__all__)
def test_every_public_name_is_its_defining_modules_object(name):
    """`vjepa_ac.X` is the very object its module defines (a class or function of that name, not a stale copy)."""
    import importlib
    import inspect

    module = importlib.import_module(vjepa_ac._EXPORTS[name])
    value = getattr(vjepa_ac, name)
    assert value is getattr(module, name) and name in dir(vjepa_ac)
    assert (inspect.isclass(value) or inspect.isfunction(value)) and value.__name__ == name


def test_importing_the_package_stays_light_and_unknown_names_fail_clearly():
    r = subprocess.run([sys.executable, "-c", "import sys, vjepa_ac; print('torch' in sys.modules, 'mujoco' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["False", "False"], r.stdout + r.stderr
    with pytest.raises(AttributeError, match="load_encodr"):
        vjepa_ac.load_encodr  # noqa: B018


def test_no_public_name_is_shadowed_by_a_submodule():
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(vjepa_ac.__path__)}
    assert not set(vjepa_ac.__all__) & submodules  # importing such a submodule would rebind the name to it
