"""The quickstart notebook runs top to bottom (small settings) and shows a result, a video and a recording."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("MUJOCO_GL", raising=False)  # the kernel starts as a user's would, with no GL backend chosen
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setenv("QUICKSTART_SMALL", "1")
    monkeypatch.setenv("QUICKSTART_DIR", str(tmp_path / "work"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    import json

    assert json.loads((tmp_path / "work" / "reach" / "results.json").read_text())["errors"] == 0, "the planned episode ran"
    assert "ms per planned action" in text and "/world/plan/candidates" in text and "fine-tuned predictor in" in text
    html = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("<video" in o["data"]["text/html"] for o in html), "the episode video is shown inline"
    assert (tmp_path / "work" / "finetuned" / "predictor" / "model.safetensors").exists()
