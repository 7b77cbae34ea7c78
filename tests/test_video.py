"""The street video of lesson 06: finding it, downloading it, and turning it into the arrow-of-time dataset.

The download is tested against a small HTTP server on this machine (127.0.0.1): the real video when
../shared/data/vtest.avi exists (else that one test is skipped), a file that is not it, a transfer cut in the middle,
and nothing at all; nothing here uses the network. The dataset is made from small synthetic street videos
(`write_walkers_video`), and once from the real video when it is there."""
import functools, http.server, threading
from pathlib import Path

import numpy as np, pandas as pd, pytest
from PIL import Image

import pedsense.video
from pedsense.core import sha256_of
from pedsense.data import dataset_class_names, list_frames, read_labels, sequence_dir
from pedsense.video import (VIDEO_CLASSES, VIDEO_SHA256, check_video, drop_outsized, frame_rate, link_tracks, preprocess_video,
                            read_video, video_path, walker_height, write_walkers_video)
from helpers import cli_ok, refused

SHARED_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vtest.avi"


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    "A synthetic street video (300 frames, 10 walkers) and the dataset made from it."
    tmp = tmp_path_factory.mktemp("street")
    video = write_walkers_video(tmp / "street.mp4")
    return video, preprocess_video(video, tmp / "data", progress=False), tmp / "data"


# --- the dataset --------------------------------------------------------------------------------------------------

def check_dataset(root: Path, counts: dict, sequence_length: int = 16):
    "The promises of `preprocess_video`: class names, balance, 16 frames a sequence, no track in two splits, the counts."
    labels = read_labels(root)
    assert dataset_class_names(root) == VIDEO_CLASSES
    assert len(labels) == counts["sequences"] == 2 * counts["windows"]
    by = labels.groupby(["split", "label"]).size().unstack()
    assert set(by.index) == {"train", "val", "test"} and (by["forward"] == by["reversed"]).all(), by
    assert labels.groupby("track_id").split.nunique().max() == 1
    assert counts["tracks"] == labels.track_id.nunique() == sum(counts[f"{s}_tracks"] for s in ("train", "val", "test"))
    assert {len(list_frames(sequence_dir(root, r.split, r.sequence_id))) for r in labels.itertuples()} == {sequence_length}
    return labels


def test_synthetic_street(street):
    video, counts, root = street
    labels = check_dataset(root, counts)
    f, r = labels.iloc[0], labels.iloc[1]                       # a window and its reversal: the same frames, last first
    assert (f.label, r.label, f.track_id, f.start_frame) == ("forward", "reversed", r.track_id, r.start_frame)
    fwd, rev = (list_frames(sequence_dir(root, x.split, x.sequence_id)) for x in (f, r))
    assert [p.read_bytes() for p in fwd] == [p.read_bytes() for p in rev[::-1]]


def test_train_evaluate_predict_on_the_walkers(street, tmp_path):
    "The ordinary commands on the video dataset: its class names reach config.json, the evaluation and the predictions."
    import json
    _, _, root = street
    out = cli_ok("train", "--data", root, "--preset", "debug", "--crop-size", "32", "-e", "1", "--runs", tmp_path / "runs", "-n", "walkers")
    run_dir = Path(out.strip().splitlines()[-1].split("run folder: ")[1])
    cfg = json.loads((run_dir / "config.json").read_text())
    assert (tuple(cfg["class_names"]), cfg["num_classes"]) == (VIDEO_CLASSES, 2)
    assert "forward" in cli_ok("evaluate", run_dir, "--split", "test")
    assert json.loads((run_dir / "final_results.json").read_text())["class_counts"].keys() == set(VIDEO_CLASSES)
    seq = next((root / "sequences" / "test").iterdir())
    table = cli_ok("predict", run_dir, seq).splitlines()
    assert table[0].split() == ["sequence", "prediction", "probability", "p_forward", "p_reversed"], table[0]
    assert table[1].split()[1] in VIDEO_CLASSES


def test_memory_is_bounded(street):
    "The decoded frames stay in memory: a video longer or larger than the bounds is refused in one line."
    video, _, _ = street
    refused(lambda: read_video(video, max_frames=10), "more than max_frames=10")
    refused(lambda: read_video(video, max_bytes=2 * 320 * 240 * 3), "max_frames=3000 frames or max_bytes=460800 bytes")   # per frame
    refused(lambda: read_video(video, max_bytes=100), "larger than max_bytes=100")


def test_deterministic(street, tmp_path):
    video, _, root = street
    preprocess_video(video, tmp_path / "again", progress=False)
    assert (root / "labels.csv").read_bytes() == (tmp_path / "again" / "labels.csv").read_bytes()
    for p in sorted((root / "sequences").rglob("frame_05.jpg"))[::25]:
        assert p.read_bytes() == (tmp_path / "again" / p.relative_to(root)).read_bytes(), p


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason="../shared/data/vtest.avi is not here")
def test_street_video(tmp_path):
    counts = preprocess_video(SHARED_VIDEO, tmp_path / "vtest", progress=False)
    check_dataset(tmp_path / "vtest", counts)
    assert counts["frames"] == 795 and counts["sequences"] >= 200, counts
    assert frame_rate(SHARED_VIDEO) == 10


# --- tracks ---------------------------------------------------------------------------------------------------------

def test_gap_is_interpolated():
    "A walker missed for up to `max_gap` frames keeps its track, the missed boxes on the line between; one frame more, a new track."
    walk = [np.array([[i, 0., i + 10, 30]]) for i in range(8)]
    none = [np.zeros((0, 4))]
    t = link_tracks(walk[:2] + none * 3 + walk[5:])
    assert t.track_id.nunique() == 1 and np.allclose(t[["x0", "y0", "x1", "y1"]].to_numpy(), np.concatenate(walk))
    assert link_tracks(walk[:2] + none * 4 + walk[6:]).track_id.nunique() == 2
    assert link_tracks(walk[:2] + none * 4 + walk[6:], max_gap=4).track_id.nunique() == 1


def walkers(heights: dict) -> pd.DataFrame:
    "Tracks of standing walkers 0.3 times as tall as the row of their feet, one per feet row, frames 0-5; `heights` {(track, frame): height} overrides."
    rows = [(k, f, 50. * k, y - heights.get((k, f), 0.3 * y), 50 * k + 0.1 * y, y) for k, y in enumerate((100., 200, 300)) for f in range(6)]
    return pd.DataFrame(rows, columns=["track_id", "frame", "x0", "y0", "x1", "y1"])


def test_drop_outsized():
    assert np.allclose(walker_height(walkers({(1, 3): 90})[["x0", "y0", "x1", "y1"]].to_numpy()), [0.3, 0])
    pieces = lambda t: t.groupby("track_id").frame.apply(list).tolist()
    assert pieces(drop_outsized(walkers({(1, 3): 90}))) == [list(range(6)), [0, 1, 2], list(range(6)), [4, 5]]   # too tall: cut
    assert pieces(drop_outsized(walkers({(0, 0): 30, (0, 5): 30}))) == [list(range(6))] * 3                        # as tall as one: kept
    wide = walkers({}); wide.loc[(wide.track_id == 2) & (wide.frame == 0), "x1"] += 60                              # two side by side
    assert pieces(drop_outsized(wide)) == [list(range(6)), list(range(6)), [1, 2, 3, 4, 5]]
    assert drop_outsized(walkers({}).iloc[:0]).empty                                                                  # no boxes: nothing to fit


# --- bad input: one line naming the file, nothing written ---------------------------------------------------------

def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data); return path


@pytest.mark.parametrize("make, words", [
    (lambda d: written(d / "notes.avi", b"not a video"), ["notes.avi: not a video"]),
    (lambda d: written(d / "empty.avi", b""), ["empty.avi: not a video"]),
    (lambda d: d / "nowhere.avi", ["nowhere.avi: no such video file"]),
    (lambda d: write_walkers_video(d / "short.mp4", n_frames=10), ["short.mp4: 10 frames, fewer than one window"]),
    (lambda d: write_walkers_video(d / "panned.mp4", n_frames=40, pan=3), ["panned.mp4: no stable background"]),
    (lambda d: write_walkers_video(d / "nobody.mp4", n_frames=40, n_walkers=0), ["nobody.mp4: no walkers found"]),
    (lambda d: write_walkers_video(d / "one.mp4", n_frames=60, n_walkers=1), ["one.mp4", "three are needed"]),
], ids=["text", "empty-file", "missing", "short", "moving-camera", "empty-scene", "one-walker"])
def test_bad_video(tmp_path, make, words):
    video = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    refused(lambda: preprocess_video(video, tmp_path / "out", progress=False), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before           # no out, no temporary folder


def test_context(street, tmp_path):
    "`context` widens the crops (more street around each walker), and changes nothing else."
    video, _, root = street
    preprocess_video(video, tmp_path / "wide", context=2.5, progress=False)
    assert (root / "labels.csv").read_bytes() == (tmp_path / "wide" / "labels.csv").read_bytes()     # the same windows
    frame = sorted((root / "sequences").rglob("frame_05.jpg"))[0]
    narrow, wide = (np.asarray(Image.open(p).convert("L"), float) for p in (frame, tmp_path / "wide" / frame.relative_to(root)))
    assert narrow.shape == wide.shape and np.abs(narrow - wide).mean() > 5                           # other pixels at the same size


def test_failure_while_writing_leaves_nothing(street, tmp_path, monkeypatch):
    "An error after some windows were written: no `out`, no temporary folder beside it."
    video, _, _ = street
    calls, real = [], pedsense.video.window_crops
    def crops_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5: raise RuntimeError("disk full")
        return real(*args, **kwargs)
    monkeypatch.setattr(pedsense.video, "window_crops", crops_then_fail)
    with pytest.raises(RuntimeError, match="disk full"): preprocess_video(video, tmp_path / "out", progress=False)
    assert len(calls) == 6 and list(tmp_path.iterdir()) == []


def test_bad_settings_and_out(street, tmp_path):
    video, _, root = street
    refused(lambda: preprocess_video(video, tmp_path / "out", frame_size=8), "frame_size")
    refused(lambda: preprocess_video(video, tmp_path / "out", stride=0), "stride")
    refused(lambda: preprocess_video(video, tmp_path / "out", context=0), "context above 0")
    refused(lambda: preprocess_video(video, root, progress=False), str(root), "not an empty folder")   # before any work
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused(lambda: preprocess_video(video, tmp_path / "mine", overwrite=True, progress=False), "pedsense did not write it")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


# --- finding the video ----------------------------------------------------------------------------------------------

@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    "No video anywhere: PEDSENSE_VIDEO unset, an empty PEDSENSE_HOME that does not exist yet, no Debian copy; downloads on (from this machine's server)."
    monkeypatch.delenv("PEDSENSE_VIDEO", raising=False)
    monkeypatch.delenv("PEDSENSE_OFFLINE", raising=False)          # the suite turns downloads off (tests/conftest.py)
    monkeypatch.setenv("PEDSENSE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pedsense.video, "SYSTEM_VIDEO", tmp_path / "usr_share" / "vtest.avi")
    return tmp_path


def test_resolver_order(nowhere, monkeypatch):
    tmp = nowhere
    msg = refused(lambda: video_path(download=False), "tried: no path given, PEDSENSE_VIDEO not set", "opencv-doc")
    assert not (tmp / "home").exists(), msg
    system = tmp / "usr_share" / "vtest.avi"; system.parent.mkdir(); system.write_bytes(b"debian")
    assert video_path(download=False) == system
    cached = tmp / "home" / "archive" / "vtest.avi"; cached.parent.mkdir(parents=True); cached.write_bytes(b"cached")
    assert video_path(download=False) == cached                           # the cache before the system copy
    given = tmp / "given.avi"; given.write_bytes(b"given")
    monkeypatch.setenv("PEDSENSE_VIDEO", str(given))
    assert video_path() == given                                          # the environment before the cache
    assert video_path(system) == system                                   # a path given before everything
    monkeypatch.setenv("PEDSENSE_VIDEO", str(tmp / "gone.avi"))
    refused(lambda: video_path(), "gone.avi: no such video file (PEDSENSE_VIDEO)")
    refused(lambda: video_path(tmp / "other.avi"), "other.avi: no such video file (the path given)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "A local HTTP server: `vtest.avi` (the real video, when it is here), `other.avi` (a small synthetic video), `cut.avi` (half of its bytes sent, then the connection closed)."
    served = tmp_path_factory.mktemp("served")
    if SHARED_VIDEO.is_file(): (served / "vtest.avi").write_bytes(SHARED_VIDEO.read_bytes())
    other = write_walkers_video(served / "other.avi", n_frames=30)
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            if self.path != "/cut.avi": return super().do_GET()
            data = other.read_bytes()
            self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
            self.wfile.write(data[: len(data) // 2]); self.wfile.flush()
            self.close_connection = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", other
    srv.shutdown()


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason="../shared/data/vtest.avi is not here")
def test_good_download_is_kept(nowhere, server):
    base, _ = server
    got = video_path(url=f"{base}/vtest.avi", progress=False)
    assert got == nowhere / "home" / "archive" / "vtest.avi" and sha256_of(got) == VIDEO_SHA256
    assert sorted(p.name for p in got.parent.iterdir()) == ["vtest.avi"]   # no temporary file beside it
    assert video_path(download=False) == got                               # found in the cache from now on


@pytest.mark.parametrize("name, sha256, words", [
    ("other.avi", VIDEO_SHA256, ["checksum mismatch"]),                   # another file
    ("other.avi", None, ["30 frames of 320x240, expected 795 of 768x576"]),   # no checksum given: decoding still checks it
    ("cut.avi", VIDEO_SHA256, ["download failed", "cut short"]),          # a transfer cut in the middle
    ("missing.avi", VIDEO_SHA256, ["download failed", "404"]),            # nothing there
], ids=["wrong-checksum", "wrong-video", "truncated", "404"])
def test_failed_download_leaves_nothing(nowhere, server, name, sha256, words):
    base, _ = server
    refused(lambda: video_path(url=f"{base}/{name}", sha256=sha256, progress=False), f"{base}/{name}", *words, "tried:")
    assert not (nowhere / "home").exists(), list((nowhere / "home").rglob("*"))   # not even an empty folder


def test_offline_is_one_line(nowhere, server, monkeypatch):
    base, _ = server
    monkeypatch.setenv("PEDSENSE_OFFLINE", "1")
    refused(lambda: video_path(url=f"{base}/vtest.avi", progress=False), "downloads are off", "tried: no path given", "PEDSENSE_VIDEO=FILE")
    assert not (nowhere / "home").exists()


def test_check_video(server):
    _, other = server
    assert check_video(other, frames=30, size=(320, 240)) == other
    refused(lambda: check_video(other), "other.avi: 30 frames of 320x240")
    assert read_video(other).shape == (30, 240, 320, 3)
