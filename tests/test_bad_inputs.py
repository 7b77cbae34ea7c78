"""Bad inputs on the command line: each is one line on stderr naming the file or argument, a non-zero exit, no traceback,
and nothing left behind. (The lessons test most cases where they teach them: bad settings in 05, bad runs in 05a and 06, bad data in 00, 02 and
02a, bad flags in 09; these are the ones that need a finished run or a broken archive to set up.)"""
import os, shutil, subprocess, sys, zipfile
from pathlib import Path

import pytest, torch

ROOT = Path(__file__).resolve().parent.parent
PEDSENSE = Path(sys.executable).parent / "pedsense"
SUBSET = ROOT / "tests" / "data" / "jaad_subset"


def run(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "PEDSENSE_DEBUG"} | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([str(PEDSENSE), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def one_line_error(r, *words):
    assert r.returncode != 0, r.stdout[-500:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    for w in words: assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    assert run("synth", "--out", tmp / "data", "--n-train", "8", "--n-val", "4", "--n-test", "4", "--size", "32").returncode == 0
    r = run("train", "--preset", "debug", "--size", "32", "--data", tmp / "data", "--runs", tmp / "runs", "-n", "ok")
    assert r.returncode == 0, r.stderr[-1500:]
    return tmp, next((tmp / "runs").iterdir())


def test_broken_checkpoints(trained):
    tmp, run_dir = trained
    broken = tmp / "broken_run"; shutil.copytree(run_dir, broken)
    (broken / "best.pt").write_bytes((run_dir / "best.pt").read_bytes()[:100])
    one_line_error(run("evaluate", broken), "best.pt", "cannot be read")
    (broken / "best.pt").write_bytes(b"")
    one_line_error(run("evaluate", broken), "best.pt")
    (broken / "train_state.pt").write_bytes(b"")
    one_line_error(run("train", "--resume", broken), "train_state.pt")
    assert not (broken / "final_results.json").exists()


def test_nan_weights_are_not_a_prediction(trained):
    tmp, run_dir = trained
    nan = tmp / "nan_run"; shutil.copytree(run_dir, nan)
    sd = torch.load(nan / "best.pt", weights_only=True)
    sd["fc.weight"] = torch.full_like(sd["fc.weight"], float("nan")); torch.save(sd, nan / "best.pt")
    seq = next((tmp / "data" / "sequences" / "test").iterdir())
    one_line_error(run("predict", nan, seq), "not a number")


def test_broken_annotation_archives(tmp_path):
    corrupt = tmp_path / "corrupt.zip"
    shutil.make_archive(str(corrupt.with_suffix("")), "zip", SUBSET.parent, SUBSET.name)
    data = bytearray(corrupt.read_bytes())
    with zipfile.ZipFile(corrupt) as z: info = z.getinfo("jaad_subset/annotations/video_0001.xml")
    start = info.header_offset + 30 + len(info.filename) + 200
    data[start:start + 64] = b"\0" * 64                               # damage the member's compressed bytes
    corrupt.write_bytes(bytes(data))
    one_line_error(run("preprocess", "jaad", "--jaad", corrupt, "--out", tmp_path / "out"), "video_0001.xml")
    (tmp_path / "notes.txt").write_text("not annotations")
    one_line_error(run("preprocess", "jaad", "--jaad", tmp_path / "notes.txt", "--out", tmp_path / "out"), "notes.txt", "not a zip")
    one_line_error(run("benchmark", "jaad", "--jaad", tmp_path / "missing.zip", "--out", tmp_path / "bench"), "missing.zip", "not found")
    assert not (tmp_path / "out").exists() and not (tmp_path / "bench").exists()
