"""Every notebook in nbs/ is a test: nbdev executes it top to bottom, skipping cells flagged with a tst_flag.

Set PEDSENSE_TEST_FLAGS="slow" to run the slow cells too. Each notebook's temporary folders (datasets, run folders,
the CLI's subprocesses included) go under its own pytest `tmp_path`, which is removed when it passes (pytest.ini), so
a run of the suite does not fill the disk.
"""
import os, tempfile
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(p for p in (Path(__file__).resolve().parent.parent / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_notebook(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # gettempdir() caches its answer per process
    wanted = os.environ.get("PEDSENSE_TEST_FLAGS", "").split()
    skip = [f for f in get_config().tst_flags.split() if f not in wanted]
    ok, _ = run_notebook(nb, skip_flags=skip, showerr=True)
    assert ok, f"{nb.name} failed: its traceback is printed above"
