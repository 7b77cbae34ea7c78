"""Helpers shared by the tests (and tools/hostile_trial.py): the command line run in this process, what a refusal looks like, and a small test video."""
import contextlib, io, os

import numpy as np
import pytest

from pedsense.core import DataError


def cli(*args, cwd=None) -> tuple[int, str, str]:
    "`pedsense ARGS` in this process (the console script's code, without starting Python again): (exit status, stdout, stderr); a bug's exception propagates and fails the test."
    from pedsense.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd: os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: code = main([str(a) for a in args])
            except SystemExit as e: code = 0 if e.code is None else e.code     # argparse's errors
    finally: os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def cli_ok(*args) -> str:
    "`pedsense ARGS` that must succeed: its stdout (a failure shows the end of its stderr)."
    code, out, err = cli(*args)
    assert code == 0, f"pedsense {' '.join(map(str, args))}:\n{err[-1500:]}"
    return out


def refused(fn, *words) -> str:
    "`fn()` raises one one-line `DataError` holding every word; returns its message."
    with pytest.raises(DataError) as e: fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words: assert w in msg, msg
    return msg


def one_line_error(r, *words) -> str:
    "A refusal on the command line, `r = (code, out, err)`: non-zero exit, one line on stderr holding `words`, no traceback."
    code, _, err = r
    assert code != 0, f"exit 0: accepted what it should refuse\n{err[-500:]}"
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err[-1500:]
    for w in words: assert str(w) in lines[0], lines[0]
    return lines[0]


def write_test_video(path, n_frames: int, width: int, height: int):
    "An MPEG-4 clip of flat grey frames (changing brightness), for cropping without JAAD's videos."
    import av
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for f in range(n_frames):
            frame = np.full((height, width, 3), 16 + (f % 18) * 12, np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")): c.mux(pkt)
        for pkt in s.encode(): c.mux(pkt)
