"""A training run killed with SIGKILL at any point, in the middle of writing a checkpoint included, resumes with
`pedsense train --resume` to the same final weights and metrics as a run that was never interrupted.

The kill is injected by a small runner that wraps `pedsense.runs.save_checkpoint`: on the chosen write it either dies
with the temporary file half written (the rename never happens) or right after the file is in place."""
import os, subprocess, sys, textwrap
from pathlib import Path

import pandas as pd, pytest, torch

BIN = Path(sys.executable).parent
RUNNER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    import torch
    import pedsense.core as core, pedsense.runs as runs
    target, nth, when = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seen, real = [0], core.save_checkpoint
    def save(obj, path):
        if Path(path).name == target:
            seen[0] += 1
            if seen[0] == nth and when == "during":
                with core.atomic_path(path) as tmp:
                    torch.save(obj, tmp); data = tmp.read_bytes(); tmp.write_bytes(data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
            real(obj, path)
            if seen[0] == nth: os.kill(os.getpid(), signal.SIGKILL)
        else: real(obj, path)
    runs.save_checkpoint = save
    from pedsense.cli import main
    sys.exit(main(sys.argv[4:]))
''')
CASES = [("train_state.pt", 1, "during"),   # epoch 0's commit never happens: the run starts again
         ("train_state.pt", 2, "during"),   # epoch 1's state half written
         ("train_state.pt", 2, "after"),    # epoch 1 committed, last.pt, metrics.csv and config.json not yet written
         ("last.pt", 3, "during")]          # epoch 2 committed, last.pt half written


def run(*args, ok=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    if ok: assert r.returncode == 0, r.stderr[-2000:]
    return r


def weights(path): return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    run(BIN / "pedsense", "synth", "--out", tmp / "data", "--n-train", "16", "--n-val", "8", "--n-test", "0", "--frame-size", "32")
    (tmp / "runner.py").write_text(RUNNER)
    args = ["train", "--preset", "debug", "--data", tmp / "data", "--crop-size", "32", "-e", "3", "--seed", "5"]
    run(BIN / "pedsense", *args, "--runs", tmp / "whole")
    return tmp, args, next((tmp / "whole").iterdir())


@pytest.mark.parametrize("target,nth,when", CASES, ids=[f"{t}-{n}-{w}" for t, n, w in CASES])
def test_kill_then_resume_is_exact(setup, target, nth, when):
    tmp, args, whole = setup
    runs = tmp / f"runs_{target}_{nth}_{when}"
    r = run(sys.executable, tmp / "runner.py", target, nth, when, *args, "--runs", runs, ok=False)
    assert r.returncode == -9, f"the run was not killed: {r.returncode}\n{r.stderr[-1000:]}"
    (cut,) = list(runs.iterdir())
    run(BIN / "pedsense", "train", "--resume", cut)
    for f in ("last.pt", "best.pt"):
        a, b = weights(cut / f), weights(whole / f)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{f} differs from the uninterrupted run's"
    pd.testing.assert_frame_equal(pd.read_csv(cut / "metrics.csv").drop(columns="time"), pd.read_csv(whole / "metrics.csv").drop(columns="time"))
    assert not list(cut.glob(".*.tmp")), "a temporary file survived the resume"
    assert sorted(p.name for p in cut.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.csv", "train_state.pt"]
