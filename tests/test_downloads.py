"""Getting the JAAD annotations, and reading annotations handed over by someone else.

The download is tested against a small HTTP server on this machine (127.0.0.1) that serves the committed 4-video subset
(tests/data/jaad_subset) zipped on the fly, a truncated copy of it, and nothing at all; nothing here uses the network.
The readers are given broken or hostile copies of the subset: each is refused with one `DataError` naming the file and
the id, and nothing is written."""
import functools, http.server, os, shutil, threading, zipfile
from pathlib import Path

import numpy as np, pandas as pd, pytest

from pedsense.core import DataError
from pedsense.jaad import (annotations_digest, benchmark_samples, download_jaad, jaad_annotations, load_features, load_jaad,
                           save_features, split_videos)
import pedsense.jaad
from helpers import cli, one_line_error, refused, write_test_video

SUBSET = Path(__file__).resolve().parent / "data" / "jaad_subset"
CRAFTED = "../../../../../../../../escaped_0_1_3b"


def run_with_timeout(fn, timeout: float = 20):
    "`fn()` in a thread, failing the test (instead of hanging the suite) when it does not return within `timeout` seconds."
    res = {}
    def target():
        try: res["value"] = fn()
        except BaseException as e: res["error"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"still running after {timeout} s (blocked?)"
    if "error" in res: raise res["error"]
    return res["value"]


def zipped(folder: Path, dest: Path) -> Path:
    "A zip of `folder` (its name as the top folder inside), written to `dest`."
    return Path(shutil.make_archive(str(dest.with_suffix("")), "zip", folder.parent, folder.name))


# --- the download --------------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def local_downloads(monkeypatch):
    "The suite turns downloads off (tests/conftest.py); these tests download only from this machine's own server."
    monkeypatch.delenv("PEDSENSE_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "A local HTTP server serving `jaad.zip` (the subset), `truncated.zip` (its first half); every request's path in `hits`."
    served = tmp_path_factory.mktemp("served")
    good = zipped(SUBSET, served / "jaad.zip")
    (served / "truncated.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    hits = []
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): hits.append(self.path)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", good, hits
    srv.shutdown()


@pytest.fixture(scope="module")
def digest():
    return annotations_digest(SUBSET)


def get(url, dest, digest, **kw):
    return download_jaad(url, dest, content_sha256=digest, videos=4, progress=False, timeout=10, **kw)


def test_good_download_is_kept(server, digest, tmp_path):
    base, good, _ = server
    got = get(f"{base}/jaad.zip", tmp_path / "archive/jaad.zip", digest)
    assert got == tmp_path / "archive/jaad.zip" and got.read_bytes() == good.read_bytes()
    assert annotations_digest(got) == digest                       # the same files as the folder, zipped
    assert sorted(p.name for p in got.parent.iterdir()) == ["jaad.zip"]


@pytest.mark.parametrize("name, content, words", [
    ("jaad.zip", "0" * 64, ["differ from JAAD", "content sha256"]),        # another set of files
    ("truncated.zip", None, ["not a zip file"]),                           # a cut transfer
    ("missing.zip", None, ["HTTP Error 404"]),                             # nothing there
])
def test_failed_download_leaves_nothing(server, digest, tmp_path, name, content, words):
    base, _, _ = server
    home = tmp_path / "home"                                               # does not exist yet
    refused(lambda: get(f"{base}/{name}", home / "archive/x.zip", digest if content is None else content), f"{base}/{name}", *words)
    assert not home.exists(), list(home.rglob("*"))                        # not even an empty folder


def test_the_full_set_is_expected_by_default(server, tmp_path):
    base, _, _ = server
    refused(lambda: download_jaad(f"{base}/jaad.zip", tmp_path / "x.zip", progress=False, timeout=10), "4 video annotation files, expected 346")
    assert not tmp_path.joinpath("x.zip").exists()


def test_resolver_order_and_offline_message(server, digest, tmp_path, monkeypatch):
    base, good, hits = server
    monkeypatch.setenv("PEDSENSE_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("PEDSENSE_JAAD", raising=False)
    url = f"{base}/jaad.zip"
    n = len(hits)
    first = jaad_annotations(progress=False, url=url, videos=4, content_sha256=digest)
    assert (first, len(hits)) == (tmp_path / "fresh/archive/jaad.zip", n + 1)                       # downloaded once ...
    assert (jaad_annotations(progress=False, url=url, videos=4, content_sha256=digest), len(hits)) == (first, n + 1)   # ... then the copy
    assert jaad_annotations(SUBSET, url=url) == SUBSET                                               # a path given comes first
    monkeypatch.setenv("PEDSENSE_JAAD", str(SUBSET))
    assert jaad_annotations(url=url) == SUBSET                                                       # then PEDSENSE_JAAD, before the copy
    monkeypatch.setenv("PEDSENSE_JAAD", str(tmp_path / "nowhere.zip"))
    refused(lambda: jaad_annotations(url=url), "nowhere.zip: not found (PEDSENSE_JAAD)")
    monkeypatch.delenv("PEDSENSE_JAAD")
    first.unlink()
    refused(lambda: jaad_annotations(download=False, url=url), "no copy of the JAAD annotations", "PEDSENSE_JAAD=FILE")
    monkeypatch.setenv("PEDSENSE_HOME", str(tmp_path / "offline"))
    refused(lambda: jaad_annotations(progress=False, url="http://127.0.0.1:9/nothing.zip"),       # nothing listens on port 9
            "download failed", "tried: no path given, PEDSENSE_JAAD not set", "--jaad FILE")
    monkeypatch.setenv("PEDSENSE_OFFLINE", "1")
    refused(lambda: jaad_annotations(progress=False, url=url), "downloads are off", "tried: no path given")
    assert not (tmp_path / "offline").exists()


def test_importing_the_readers_does_not_import_the_downloader():
    import subprocess, sys
    code = ("import sys, pedsense.data, pedsense.synth, pedsense.jaad, pedsense.trajectory, pedsense.crops; "
            "print('fastdownload' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "False"), r.stderr[-1000:]


# --- hostile or broken annotations ---------------------------------------------------------------------------------

def edited(tmp_path: Path, rel: str | None = None, old: str = "", new: str = "") -> Path:
    "A copy of the subset in `tmp_path/jaad` with `old` replaced by `new` in the file `rel`."
    d = tmp_path / "jaad"
    shutil.copytree(SUBSET, d)
    if rel is not None:
        text = (d / rel).read_text()
        assert old in text, f"{old!r} not in {rel}"
        (d / rel).write_text(text.replace(old, new))
    return d


def test_crafted_pedestrian_id_is_refused_before_anything_is_written(tmp_path):
    bad = edited(tmp_path, "annotations/video_0001.xml", '"id">0_1_3b<', f'"id">{CRAFTED}<')
    att = bad / "annotations_attributes/video_0001_attributes.xml"
    att.write_text(att.read_text().replace('id="0_1_3b"', f'id="{CRAFTED}"'))
    refused(lambda: load_jaad(bad, progress=False), "annotations/video_0001.xml", f"pedestrian id '{CRAFTED}' is not a plain name")
    av = pytest.importorskip("av")
    clips = tmp_path / "a/b/c/d/e/f/g/h/clips"
    clips.mkdir(parents=True)
    write_test_video(clips / "video_0001.mp4", 600, 192, 108)
    from pedsense.crops import preprocess_jaad
    out = clips.parent / "out"
    refused(lambda: preprocess_jaad(bad, out, clips, skip_missing=True, frame_size=32, progress=False), CRAFTED, "video_0001.xml")
    assert not out.exists()
    assert not [p for d in (tmp_path, *tmp_path.parents) for p in d.glob("escaped_*")]
    assert sorted(p.name for p in clips.parent.iterdir()) == ["clips"]


def test_crafted_id_in_attributes_only(tmp_path):
    bad = edited(tmp_path, "annotations_attributes/video_0001_attributes.xml", 'id="0_1_3b"', f'id="{CRAFTED}"')
    refused(lambda: load_jaad(bad, progress=False), "annotations_attributes/video_0001_attributes.xml", "not a plain name")


def test_video_id_is_a_plain_name(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(SUBSET.rglob("*")):
            if p.is_file(): z.write(p, f"jaad/{p.relative_to(SUBSET)}")
        z.writestr("jaad/annotations/...xml", "<annotations/>")        # a file whose video id would be '..'
    refused(lambda: load_jaad(archive, progress=False), "video id '..' is not a plain name")


BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        + "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(2, 10)) + ']><lolz>&lol9;</lolz>')

@pytest.mark.parametrize("rel", ["annotations/video_0001.xml", "annotations_attributes/video_0001_attributes.xml",
                                 "annotations_vehicle/video_0001_vehicle.xml"])
def test_malformed_and_entity_bomb_xml(tmp_path, rel):
    d = edited(tmp_path)
    text = (d / rel).read_text()
    (d / rel).write_text(text[: len(text) // 2])
    refused(lambda: load_jaad(d, progress=False), rel, "is not valid XML")
    (d / rel).write_text(BOMB)
    refused(lambda: load_jaad(d, progress=False), rel, "is not valid", "DTD")


@pytest.mark.parametrize("rel, old, new, words", [
    ("annotations/video_0001.xml", '<attribute name="id">0_1_3b</attribute>', "", ["annotations/video_0001.xml", "has no id"]),
    ("annotations/video_0001.xml", '<attribute name="id">0_1_3b</attribute>', '<attribute name="id" />', ["has no id"]),
    ("annotations/video_0001.xml", 'xtl="465.0"', 'xtl="inf"', ["box of 0_1_3b at frame 0", "must be finite"]),
    ("annotations/video_0001.xml", 'xtl="465.0"', 'xtl="nan"', ["box of 0_1_3b at frame 0", "must be finite"]),
    ("annotations/video_0001.xml", 'xtl="465.0"', 'xtl="533.0"', ["box of 0_1_3b at frame 0", "x1 < x2"]),    # zero width
    ("annotations/video_0001.xml", 'ybr="848.0" ytl="730.0"', 'ybr="700.0" ytl="730.0"', ["y1 < y2"]),
    ("annotations/video_0001.xml", '<box frame="0" ', '<box frame="zero" ', ["box of 0_1_3b at frame 'zero'", "not a number"]),
    ("annotations/video_0001.xml", 'xtl="465.0"', 'xtl="left"', ["not a number"]),
    ("annotations/video_0001.xml", "<width>1920</width>", "<width>0</width>", ["image size must be positive"]),
    ("annotations/video_0001.xml", "0_1_2b", "0_1_3b", ["pedestrian id 0_1_3b appears twice", "video_0001"]),   # two tracks, one id
    ("annotations_attributes/video_0001_attributes.xml", 'crossing_point="-1"', 'crossing_point="soon"',
     ["video_0001_attributes.xml", "crossing_point of 0_1_2b 'soon' is not a number"]),
    ("annotations_attributes/video_0001_attributes.xml", 'id="0_1_2b"', "", ["video_0001_attributes.xml", "has no id"]),
    ("annotations_vehicle/video_0001_vehicle.xml", 'id="3"', 'id="three"', ["video_0001_vehicle.xml", "frame 'three' is not a number"]),
    ("annotations_vehicle/video_0001_vehicle.xml", 'id="3"', 'id="2"', ["vehicle action (video, frame) video_0001, 2 appears twice"]),
    # impossible boxes and frames: compared with the video's meta/task/size (600 frames) and original_size (1920x1080)
    ("annotations/video_0001.xml", 'ybr="848.0" ytl="730.0"', 'ybr="1e300" ytl="730.0"',
     ["annotations/video_0001.xml", "box of 0_1_3b at frame 0", "1e+300", "at most 5% of the image's width or height outside the 1920x1080"]),
    ("annotations/video_0001.xml", 'xbr="533.0" xtl="465.0"', 'xbr="5100.0" xtl="5000.0"',
     ["annotations/video_0001.xml", "box of 0_1_3b at frame 0", "entirely outside the 1920x1080 image"]),
    ("annotations/video_0001.xml", 'xbr="533.0" xtl="465.0" ybr="848.0" ytl="730.0"', 'xbr="-10.0" xtl="-120.0" ybr="848.0" ytl="730.0"',
     ["box of 0_1_3b at frame 0", "entirely outside"]),
    ("annotations/video_0001.xml", '<box frame="0" keyframe="1" occluded="0" outside="0" xbr="533.0"',
     '<box frame="-5" keyframe="1" occluded="0" outside="0" xbr="533.0"', ["box of 0_1_3b at frame -5", "one of the video's 600 frames, 0 to 599"]),
    ("annotations/video_0001.xml", '<box frame="0" keyframe="1" occluded="0" outside="0" xbr="533.0"',
     '<box frame="600" keyframe="1" occluded="0" outside="0" xbr="533.0"', ["box of 0_1_3b at frame 600", "one of the video's 600 frames"]),
    # ego actions: JAAD's files give one of EGO_ACTIONS for every frame of the video
    ("annotations_vehicle/video_0001_vehicle.xml", 'action="moving_slow" id="0"', 'action="flying" id="0"',
     ["video_0001_vehicle.xml", "frame 0: unknown ego action 'flying'", "known: stopped, moving_slow"]),
    ("annotations_vehicle/video_0001_vehicle.xml", 'action="moving_slow" id="0"', 'id="0"', ["video_0001_vehicle.xml", "frame 0: unknown ego action None"]),
    ("annotations_vehicle/video_0001_vehicle.xml", '<frame action="accelerating" id="599" />', "",
     ["video_0001_vehicle.xml", "ego actions for 599 of the video's 600 frames"]),
    ("annotations_vehicle/video_0001_vehicle.xml", 'id="599"', 'id="600"',
     ["video_0001_vehicle.xml", "ego actions for 599 of the video's 600 frames and 1 beyond them"]),
])
def test_broken_values_are_refused(tmp_path, rel, old, new, words):
    d = edited(tmp_path, rel, old, new)
    refused(lambda: load_jaad(d, progress=False), *words)


def test_vehicle_file_without_frames(tmp_path):
    d = edited(tmp_path)
    (d / "annotations_vehicle/video_0001_vehicle.xml").write_text("<vehicle_info></vehicle_info>")
    refused(lambda: load_jaad(d, progress=False), "annotations_vehicle/video_0001_vehicle.xml", "ego actions for 0 of the video's 600 frames")


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: os.mkfifo(p)], ids=["folder", "named pipe"])
def test_annotation_file_that_is_not_a_file(tmp_path, make):
    "A folder (or a pipe) named video_0001.xml is refused by name, not skipped (its video would vanish from the splits)."
    d = edited(tmp_path)
    (d / "annotations/video_0001.xml").unlink()
    make(d / "annotations/video_0001.xml")
    msg = run_with_timeout(lambda: refused(lambda: load_jaad(d, progress=False), "annotations/video_0001.xml is not a file"))
    assert str(d) in msg
    r = cli("preprocess", "jaad", "--jaad", d, "--out", tmp_path / "out")
    one_line_error(r, "annotations/video_0001.xml is not a file")
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_impossible_values_and_writes_nothing(tmp_path):
    d = edited(tmp_path, "annotations/video_0001.xml", 'xbr="533.0" xtl="465.0"', 'xbr="5100.0" xtl="5000.0"')
    one_line_error(cli("preprocess", "jaad", "--jaad", d, "--out", tmp_path / "out"), "video_0001.xml", "0_1_3b", "frame 0", "entirely outside")
    v = edited(tmp_path / "v", "annotations_vehicle/video_0001_vehicle.xml", 'action="moving_slow" id="0"', 'action="flying" id="0"')
    one_line_error(cli("preprocess", "jaad", "--jaad", v, "--out", tmp_path / "out"), "video_0001_vehicle.xml", "frame 0", "'flying'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jaad", "v"]


def test_duplicate_pedestrian_across_videos(tmp_path):
    d = edited(tmp_path)
    other = sorted((d / "annotations").glob("*.xml"))[1]
    some = load_jaad(SUBSET, progress=False).pedestrians.query("video_id == @other.stem").pid.iloc[0]
    for rel in (f"annotations/{other.name}", f"annotations_attributes/{other.stem}_attributes.xml"):
        (d / rel).write_text((d / rel).read_text().replace(some, "0_1_3b"))
    refused(lambda: load_jaad(d, progress=False), "pedestrian id 0_1_3b appears twice", "video_0001", other.stem)


def test_missing_attributes_folder_is_refused(tmp_path):
    d = edited(tmp_path)
    shutil.rmtree(d / "annotations_attributes")
    refused(lambda: load_jaad(d, progress=False), "no annotations_attributes/ folder")
    d2 = edited(tmp_path / "b")
    (d2 / "annotations_attributes/video_0001_attributes.xml").unlink()                # JAAD has one per video
    refused(lambda: load_jaad(d2, progress=False), "missing annotations_attributes/video_0001_attributes.xml")


def test_several_sets_are_ambiguous(tmp_path):
    top = tmp_path / "both"
    for name in ("JAAD-a", "JAAD-b"): shutil.copytree(SUBSET, top / name)
    refused(lambda: load_jaad(top, progress=False), "holds 2 sets of JAAD annotations", "JAAD-a", "JAAD-b")
    archive = Path(shutil.make_archive(str(tmp_path / "both"), "zip", top))          # JAAD-a/annotations/..., JAAD-b/annotations/...
    refused(lambda: load_jaad(archive, progress=False), "holds 2 sets", "JAAD-a/, JAAD-b/")


def test_split_list_not_utf8(tmp_path):
    d = edited(tmp_path)
    (d / "split_ids/default/train.txt").write_bytes(b"video_0001\n\xff\xfe\n")
    jaad = load_jaad(d, progress=False)
    refused(lambda: split_videos(jaad, "train"), "split_ids/default/train.txt is not UTF-8")
    refused(lambda: benchmark_samples(jaad, "train"), "split_ids/default/train.txt is not UTF-8")


def test_too_large_files_are_refused_before_reading(tmp_path, monkeypatch):
    d = edited(tmp_path)
    big = d / "annotations/video_0001.xml"
    with open(big, "r+b") as f: f.truncate(pedsense.jaad.MAX_FILE_BYTES + 1)         # sparse: costs no disk and no time
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or b"")
    refused(lambda: load_jaad(d, progress=False), "annotations/video_0001.xml is 67,108,865 bytes", "more than an annotation file may have")
    assert not read, read
    monkeypatch.undo()
    archive = tmp_path / "bomb.zip"                                                   # 100 MB of zeros in a zip of about 100 KB
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(SUBSET.rglob("*")):
            if p.is_file() and p.name != "video_0001.xml": z.write(p, f"jaad/{p.relative_to(SUBSET)}")
        with z.open("jaad/annotations/video_0001.xml", "w", force_zip64=True) as f:
            for _ in range(100): f.write(bytes(2**20))
    assert archive.stat().st_size < 2**20
    refused(lambda: load_jaad(archive, progress=False), "annotations/video_0001.xml is 104,857,600 bytes")


def test_zip_member_names_are_never_paths(tmp_path):
    archive = tmp_path / "inner" / "slip.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(SUBSET.rglob("*")):
            if p.is_file(): z.write(p, f"../../escaped/{p.relative_to(SUBSET)}")
    with pytest.raises(DataError): load_jaad(archive, progress=False)                 # read in place, never extracted
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


# --- the samples folder ---------------------------------------------------------------------------------------------

def good_features(n=3, t=16):
    return dict(frames=np.tile(np.arange(t), (n, 1)), boxes=np.tile(np.array([10, 20, 30, 60], np.float32), (n, t, 1)),
                ego=np.zeros((n, t), np.int64), image_size=np.tile(np.array([1920, 1080], np.float32), (n, 1)),
                label=np.array([0, 1, 0])[:n], tte=np.full(n, 30))


@pytest.mark.parametrize("edit, words", [
    (lambda f: f.pop("boxes"), ["no boxes array"]),
    (lambda f: f.update(boxes=f["boxes"][:, :, :3]), ["boxes has shape (3, 16, 3), expected (3, 16, 4)"]),
    (lambda f: f.update(ego=f["ego"][:2]), ["ego has shape (2, 16), expected (3, 16)"]),
    (lambda f: f.update(image_size=f["image_size"][:, :1]), ["image_size has shape"]),
    (lambda f: f["boxes"].__setitem__((1, 3, 0), np.nan), ["boxes holds values that are not finite"]),
    (lambda f: f["image_size"].__setitem__((0, 0), np.inf), ["image_size holds values that are not finite"]),
    (lambda f: f.update(label=np.array([0, 1, 2])), ["label holds values other than 0 and 1"]),
])
def test_load_features_checks(tmp_path, edit, words):
    save_samples(tmp_path, "train", good_features())
    assert load_features(tmp_path, "train")["boxes"].shape == (3, 16, 4)
    f = good_features()
    edit(f)
    save_samples(tmp_path, "val", good_features())
    save_features(f, tmp_path / "features_val.npz")
    refused(lambda: load_features(tmp_path, "val"), "features_val.npz", *words)


def save_samples(folder: Path, split: str, feats: dict) -> None:
    "`samples_{split}.csv` and `features_{split}.npz` for the windows of `feats`, as `write_sample_files` writes them."
    n = len(feats["label"])
    pd.DataFrame(dict(pid=[f"0_1_{i}b" for i in range(n)], video_id="video_0001", start_frame=0, end_frame=15, label=feats["label"],
                      tte=feats["tte"], event_frame=60, split=split)).to_csv(folder / f"samples_{split}.csv", index=False)
    save_features(feats, folder / f"features_{split}.npz")


@pytest.mark.parametrize("edit, words", [
    (lambda t: "a,b\n1,2\n", ["samples_train.csv", "no column pid, video_id, start_frame, end_frame, label, split"]),
    (lambda t: "\n".join(t.splitlines()[:-1]) + "\n", ["samples_train.csv", "2 windows, but features_train.npz holds 3"]),
    (lambda t: t + t.splitlines()[-1] + "\n", ["samples_train.csv", "4 windows, but features_train.npz holds 3"]),
    (lambda t: t.replace(",0,30,", ",1,30,", 1), ["samples_train.csv", "labels differ from those in features_train.npz"]),
    (lambda t: "", ["samples_train.csv", "cannot be read as CSV (EmptyDataError)", "features_train.npz"]),
    (None, ["samples_train.csv: not found"]),
])
def test_sample_table_must_match_the_features(tmp_path, edit, words):
    save_samples(tmp_path, "train", good_features())
    table = tmp_path / "samples_train.csv"
    if edit is None: table.unlink()
    else: table.write_text(edit(table.read_text()))
    refused(lambda: load_features(tmp_path, "train"), *words)


def test_train_refuses_a_mismatched_samples_folder(tmp_path):
    "`pedsense train -m box-rnn` on a samples folder whose table and arrays disagree: one line, no run folder."
    s = tmp_path / "s"
    assert cli("preprocess", "jaad", "--jaad", SUBSET, "--out", s)[0] == 0
    table = s / "samples_train.csv"
    table.write_text("\n".join(table.read_text().splitlines()[:-3]) + "\n")
    train = ["train", "-m", "box-rnn", "-e", "1", "-b", "16", "--data", s, "--runs", tmp_path / "runs"]
    one_line_error(cli(*train), "samples_train.csv", "features_train.npz")
    table.write_text("a,b\n1,2\n")
    one_line_error(cli(*train), "samples_train.csv", "no column pid")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# --- crops: --skip-missing must not empty a split -------------------------------------------------------------------

def test_skip_missing_must_not_empty_a_split(tmp_path):
    av = pytest.importorskip("av")
    from pedsense.crops import write_crops
    jaad = load_jaad(SUBSET, progress=False)
    jaad.boxes = jaad.boxes[jaad.boxes.video_id == "video_0001"].copy()
    jaad.boxes[["x1", "y1", "x2", "y2"]] /= 10
    jaad.videos = jaad.videos.assign(width=jaad.videos.width // 10, height=jaad.videos.height // 10)   # the clip's size
    (tmp_path / "clips").mkdir()
    write_test_video(tmp_path / "clips/video_0001.mp4", 600, 192, 108)
    s = benchmark_samples(jaad, "train")
    s = s[s.video_id == "video_0001"].head(4)
    other = next(v for v in sorted(set(jaad.videos.video_id)) if v != "video_0001")
    samples = pd.concat([s, s.head(2).assign(video_id=other, split="val")], ignore_index=True)   # val only in a clip we do not have
    refused(lambda: write_crops(samples, jaad, tmp_path / "clips", out=tmp_path / "crops", frame_size=32, skip_missing=True,
                                progress=False), "val split", "empty", f"{other}.mp4")
    assert not (tmp_path / "crops").exists()
    counts = write_crops(s, jaad, tmp_path / "clips", out=tmp_path / "ok", frame_size=32, skip_missing=True, progress=False)
    assert counts["windows"] == 4                                                     # a split empty from the start is not refused


def test_encrypted_member(tmp_path):
    archive = zipped(SUBSET, tmp_path / "jaad.zip")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z: info = z.getinfo("jaad_subset/annotations/video_0001.xml")
    data[info.header_offset + 6] |= 1                                   # the "encrypted" flag, in the local header ...
    cd = data.find(b"PK\x01\x02")
    while data[cd + 46:cd + 46 + len(info.filename)] != info.filename.encode(): cd = data.find(b"PK\x01\x02", cd + 4)
    data[cd + 8] |= 1                                                   # ... and in the central directory
    archive.write_bytes(bytes(data))
    refused(lambda: load_jaad(archive, progress=False), "annotations/video_0001.xml cannot be read", "encrypted")
    refused(lambda: pedsense.jaad.check_jaad_annotations(archive, videos=4), "encrypted")


def test_clip_of_another_size_is_refused(tmp_path):
    "A clip whose frames are not the annotations' original_size is refused by name with both sizes, even with --skip-missing."
    av = pytest.importorskip("av")
    (tmp_path / "clips").mkdir()
    write_test_video(tmp_path / "clips/video_0001.mp4", 600, 192, 108)      # a tenth of the annotated 1920x1080
    r = cli("preprocess", "jaad", "--jaad", SUBSET, "--clips", tmp_path / "clips", "--frame-size", "32", "--skip-missing", "--out", tmp_path / "out")
    one_line_error(r, "video_0001.mp4", "192x108", "1920x1080", "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]


@pytest.mark.parametrize("make", [lambda p: os.mkfifo(p), lambda p: p.mkdir(), lambda p: p.symlink_to("/dev/zero")],
                         ids=["named pipe", "folder", "link to a device"])
def test_frame_that_is_not_a_regular_file(tmp_path, make):
    "Opening a named pipe blocks until someone writes into it: the frame is refused by name before it is opened."
    from pedsense.data import SequenceWriter, list_frames, load_clip, read_frame, sequence_dir
    with SequenceWriter(tmp_path / "d") as w: w.add("train", "a", [np.zeros((8, 8, 3), np.uint8)] * 4, "crossing")
    frame = sequence_dir(tmp_path / "d", "train", "a") / "frame_02.jpg"
    frame.unlink()
    make(frame)
    run_with_timeout(lambda: refused(lambda: read_frame(frame), "frame_02.jpg: not a regular file"))
    run_with_timeout(lambda: refused(lambda: load_clip(list_frames(frame.parent), 4), "frame_02.jpg: not a regular file"))
