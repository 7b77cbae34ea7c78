"""Every notebook in nbs/ is a test: nbdev executes it top to bottom, skipping cells flagged with a tst_flag.

Set PEDSENSE_TEST_FLAGS="slow" to run the slow cells too.
"""
import os
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(p for p in (Path(__file__).resolve().parent.parent / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_notebook(nb):
    wanted = os.environ.get("PEDSENSE_TEST_FLAGS", "").split()
    skip = [f for f in get_config().tst_flags.split() if f not in wanted]
    ok, _ = run_notebook(nb, skip_flags=skip, showerr=True)
    assert ok, f"{nb.name} failed: its traceback is printed above"
