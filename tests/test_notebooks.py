"""Every notebook in nbs/ is a test: nbdev executes it top to bottom, skipping cells flagged with a tst_flag.

Set PEDSENSE_TEST_FLAGS="slow" to run the slow cells too. Nothing downloads: PEDSENSE_JAAD points the JAAD lessons at
../shared/data/jaad_annotations.zip when it exists and at the committed 4-video subset otherwise (PEDSENSE_JAAD set
beforehand wins), PEDSENSE_VIDEO at ../shared/data/vtest.avi when it exists (the street video of lesson 06; without it the
lesson falls back to what it can teach without it), and PEDSENSE_HOME at an empty folder, so no earlier download is used either. Each notebook's temporary folders (datasets, run folders,
the CLI's subprocesses included) go under its own pytest `tmp_path`, which is removed when it passes (pytest.ini), so
a run of the suite does not fill the disk.
"""
import os, tempfile
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parent.parent
SHARED_JAAD = ROOT.parent / "shared" / "data" / "jaad_annotations.zip"
SHARED_VIDEO = ROOT.parent / "shared" / "data" / "vtest.avi"
NBS = sorted(p for p in (Path(__file__).resolve().parent.parent / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_notebook(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("PEDSENSE_HOME", str(tmp_path / "pedsense_home"))
    if not os.environ.get("PEDSENSE_JAAD"):
        monkeypatch.setenv("PEDSENSE_JAAD", str(SHARED_JAAD if SHARED_JAAD.is_file() else ROOT / "tests" / "data" / "jaad_subset"))
    if not os.environ.get("PEDSENSE_VIDEO") and SHARED_VIDEO.is_file(): monkeypatch.setenv("PEDSENSE_VIDEO", str(SHARED_VIDEO))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # gettempdir() caches its answer per process
    wanted = os.environ.get("PEDSENSE_TEST_FLAGS", "").split()
    skip = [f for f in get_config().tst_flags.split() if f not in wanted]
    ok, _ = run_notebook(nb, skip_flags=skip, showerr=True)
    assert ok, f"{nb.name} failed: its traceback is printed above"
