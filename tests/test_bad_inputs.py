"""Hostile and broken inputs on the command line, the suite's fast subset of `tools/hostile_trial.py` (which runs ~280 cases):
each is a non-zero exit with one line on stderr naming the file or argument, no traceback, nothing written outside the folder
given and nothing left behind. One case of each kind: an id that escapes, a broken or oversized archive, an entity bomb, a
checkpoint that would run code, a SIGTERM while a dataset or a run is half-written, two writers of one folder, the run-folder
lock, a resume that must not delete results, a cache clear in a folder that is not a dataset, operating-system errors,
a setting the model does not read.

Commands run in this process through `pedsense.cli.main` (the console script's code, without starting Python again; an
uncaught exception fails the test with its traceback). What needs a second process (a signal, a lock, two writers) runs
`main()` in a forked child, as the console script does, joined with a timeout."""
import itertools, json, multiprocessing, os, re, shutil, signal, sys, time, traceback, zipfile
from pathlib import Path

import pytest

from pedsense.cli import main
from helpers import cli, one_line_error

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT / "tests" / "data" / "jaad_subset"
ESC = "../" * 6 + "escaped_0_1_3b"
CLIP = ["--preset", "debug", "--crop-size", "32"]


def leftovers(folder: Path) -> list[Path]:
    "Temporary files or folders a command left (`.NAME.*.tmp`, `.NAME.old.*`)."
    return [p for p in Path(folder).rglob(".*") if re.search(r"\.tmp$|\.old\.\d+$", p.name)]


def _child(argv, out, err, cwd):
    "The console script in a forked child: `main()` reads sys.argv and installs its SIGTERM handler."
    code = 1
    try:
        os.chdir(cwd)
        sys.stdout, sys.stderr = open(out, "w", buffering=1), open(err, "w", buffering=1)
        os.dup2(sys.stdout.fileno(), 1); os.dup2(sys.stderr.fileno(), 2)
        sys.argv = ["pedsense", *map(str, argv)]
        try: code = main()
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
        except BaseException: traceback.print_exc()
        sys.stdout.flush(); sys.stderr.flush()
    finally: os._exit(code or 0)


class Child:
    "`pedsense ARGS` in a forked process; `.finish(timeout)` returns (exit status, stdout, stderr), killing it after `timeout`."
    numbers = itertools.count()
    def __init__(self, tmp: Path, *args, cwd=None):
        n = next(Child.numbers)
        self.out, self.err = tmp / f"child_{n}.out", tmp / f"child_{n}.err"
        self.p = multiprocessing.get_context("fork").Process(target=_child, args=(args, self.out, self.err, cwd or os.getcwd()))
        self.p.start()

    def finish(self, timeout: float = 120):
        self.p.join(timeout)
        if self.p.is_alive(): self.p.kill(); self.p.join(); pytest.fail(f"no answer within {timeout} s")
        return self.p.exitcode, self.out.read_text(), self.err.read_text()

    def signal_when(self, ready, sig=signal.SIGTERM, timeout: float = 120):
        "Send `sig` once `ready()` holds (fails the test if the command ends first)."
        deadline = time.time() + timeout
        while not ready():
            assert self.p.is_alive(), f"the command ended before it could be interrupted: {self.err.read_text()[-500:]}"
            assert time.time() < deadline, "never became ready"
            time.sleep(0.02)
        os.kill(self.p.pid, sig)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A tiny synthetic dataset and a finished debug run on it (evaluated: final_results.json)."
    tmp = tmp_path_factory.mktemp("bad")
    assert cli("synth", "--out", tmp / "data", "--n-train", "8", "--n-val", "4", "--n-test", "4", "--frame-size", "32")[0] == 0
    code, out, err = cli("train", *CLIP, "--data", tmp / "data", "--runs", tmp / "runs", "-n", "ok")
    assert code == 0, err[-1500:]
    run_dir = Path(out.strip().splitlines()[-1].split("run folder: ")[1])
    assert cli("evaluate", run_dir)[0] == 0
    return tmp, run_dir


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


# --- ids that escape, archives ---

def test_escaping_ids_are_refused(tmp_path, trained):
    jaad = Path(shutil.copytree(SUBSET, tmp_path / "a" / "b" / "jaad"))        # deep, so that the id's ../ would land in tmp_path
    for rel, old, new in (("annotations/video_0001.xml", ">0_1_3b<", f">{ESC}<"),
                          ("annotations_attributes/video_0001_attributes.xml", 'id="0_1_3b"', f'id="{ESC}"')):
        (jaad / rel).write_text((jaad / rel).read_text().replace(old, new))
    one_line_error(cli("preprocess", "jaad", "--jaad", jaad, "--out", jaad.parent / "out"), "video_0001", "escaped_0_1_3b")
    data = Path(shutil.copytree(trained[0] / "data", tmp_path / "a" / "b" / "data"))
    labels = (data / "labels.csv").read_text().splitlines()
    first = labels[1].split(",")[0]
    (data / "labels.csv").write_text("\n".join([labels[0], labels[1].replace(first, "../../../escaped_seq", 1), *labels[2:]]) + "\n")
    one_line_error(cli("train", *CLIP, "--data", data, "--runs", tmp_path / "runs"), "labels.csv", "escaped_seq")
    assert not list(tmp_path.rglob("escaped*")) and not (jaad.parent / "out").exists() and not list((tmp_path / "runs").glob("*"))


def subset_zip(dest: Path) -> tuple[Path, zipfile.ZipInfo, int]:
    "The JAAD subset zipped; video_0001.xml's entry and the offset of its central-directory record."
    z = Path(shutil.make_archive(str(dest), "zip", SUBSET.parent, SUBSET.name))
    with zipfile.ZipFile(z) as zz: info = zz.getinfo("jaad_subset/annotations/video_0001.xml")
    data, cd = z.read_bytes(), 0
    while data[cd + 46:cd + 46 + len(info.filename)] != info.filename.encode(): cd = data.find(b"PK\x01\x02", cd + 4)
    return z, info, cd


def test_broken_archives(tmp_path):
    for name, damage in (("crc", lambda d, lh, cd: d.__setitem__(slice(lh + 250, lh + 314), b"\0" * 64)),      # the member's bytes
                         ("encrypted", lambda d, lh, cd: (d.__setitem__(lh + 6, d[lh + 6] | 1), d.__setitem__(cd + 8, d[cd + 8] | 1))),
                         ("method", lambda d, lh, cd: (d.__setitem__(lh + 8, 99), d.__setitem__(cd + 10, 99)))):     # unknown compression
        z, info, cd = subset_zip(tmp_path / name)
        data = bytearray(z.read_bytes()); damage(data, info.header_offset, cd); z.write_bytes(bytes(data))
        one_line_error(cli("preprocess", "jaad", "--jaad", z, "--out", tmp_path / "out"), "video_0001.xml")
    (tmp_path / "notes.txt").write_text("not annotations")
    one_line_error(cli("preprocess", "jaad", "--jaad", tmp_path / "notes.txt", "--out", tmp_path / "out"), "notes.txt", "not a zip")
    one_line_error(cli("benchmark", "jaad", "--jaad", tmp_path / "missing.zip", "--out", tmp_path / "bench"), "missing.zip", "not found")
    assert not (tmp_path / "out").exists() and not (tmp_path / "bench").exists()


def test_oversized_member_and_entity_bomb(tmp_path):
    from pedsense.jaad import MAX_FILE_BYTES
    big = tmp_path / "big.zip"                                         # a member one byte over the limit, refused by its declared size
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(SUBSET.rglob("*")):
            if p.is_file() and p.name != "video_0001_vehicle.xml": z.write(p, f"jaad/{p.relative_to(SUBSET)}")
        with z.open("jaad/annotations_vehicle/video_0001_vehicle.xml", "w") as m:
            for _ in range(MAX_FILE_BYTES >> 20): m.write(b" " * (1 << 20))
            m.write(b" ")
    assert big.stat().st_size < 2 << 20
    one_line_error(cli("preprocess", "jaad", "--jaad", big, "--out", tmp_path / "out"), "video_0001_vehicle.xml")
    jaad = Path(shutil.copytree(SUBSET, tmp_path / "jaad"))
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10))
    (jaad / "annotations_attributes/video_0001_attributes.xml").write_text(f'<?xml version="1.0"?><!DOCTYPE p [{lol}]><p>&l9;</p>')
    one_line_error(cli("preprocess", "jaad", "--jaad", jaad, "--out", tmp_path / "out"), "video_0001_attributes.xml")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


# --- checkpoints that would run code, broken ones ---

class Evil:
    "Unpickling this touches a file: what a code-carrying checkpoint does."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f"touch {self.marker}",))


def test_code_running_checkpoints_are_refused(tmp_path, trained):
    import torch
    run_dir = copy_run(trained[1], tmp_path / "run")
    torch.save(Evil(tmp_path / "ran_code"), run_dir / "best.pt")
    one_line_error(cli("evaluate", run_dir), "best.pt")
    torch.save({"model": Evil(tmp_path / "ran_code"), "epoch": 0}, run_dir / "train_state.pt")
    one_line_error(cli("train", "--resume", run_dir), "train_state.pt")
    assert not (tmp_path / "ran_code").exists()


def test_broken_checkpoints(tmp_path, trained):
    import torch
    run_dir = copy_run(trained[1], tmp_path / "run")
    (run_dir / "best.pt").write_bytes((trained[1] / "best.pt").read_bytes()[:100])
    one_line_error(cli("evaluate", run_dir), "best.pt", "cannot be read")
    sd = torch.load(trained[1] / "best.pt", weights_only=True)
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}, run_dir / "best.pt")
    seq = next((trained[0] / "data" / "sequences" / "test").iterdir())
    one_line_error(cli("predict", run_dir, seq), "best.pt", "not a number")


# --- output folders: half-written on SIGTERM, two writers, --overwrite ---

def synth_args(out, n="8"): return ["synth", "--out", out, "--n-train", n, "--n-val", "4", "--n-test", "4", "--frame-size", "32"]


def test_sigterm_during_synth_leaves_nothing(tmp_path):
    child = Child(tmp_path, *synth_args(tmp_path / "X", n="5000"))
    child.signal_when(lambda: any(tmp_path.glob(".X.*.tmp/sequences/train/*/frame_00.jpg")))
    one_line_error(child.finish(), "interrupted")
    assert not (tmp_path / "X").exists() and not leftovers(tmp_path)


def test_sigterm_in_the_first_epoch_leaves_no_run_folder(tmp_path, trained):
    child = Child(tmp_path, "train", *CLIP, "-b", "2", "--data", trained[0] / "data", "--runs", tmp_path / "runs", "-n", "cut")
    child.signal_when(lambda: any((tmp_path / "runs").glob("cut_*/config.json")))
    one_line_error(child.finish(), "interrupted")
    assert not list((tmp_path / "runs").glob("cut_*"))


def test_two_writers_of_one_folder(tmp_path):
    a, b = (Child(tmp_path, *synth_args(tmp_path / "X", n="40"), "--seed", str(s)) for s in (0, 1))
    results = [a.finish(), b.finish()]
    assert sorted(r[0] == 0 for r in results) == [False, True], [r[2][-300:] for r in results]   # one wrote X, the other was refused
    one_line_error(next(r for r in results if r[0] != 0), "X")
    assert len((tmp_path / "X" / "labels.csv").read_text().splitlines()) == 1 + 48 and not leftovers(tmp_path)


def test_overwrite_refuses_a_folder_pedsense_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    one_line_error(cli(*synth_args(tmp_path / "mine"), "--overwrite"), "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"


def test_cache_clear_leaves_a_foreign_folder_alone(tmp_path):
    f = tmp_path / "other" / ".cache" / "features_weights.pt"; f.parent.mkdir(parents=True); f.write_bytes(b"someone else's")
    one_line_error(cli("cache", "clear", "--data", tmp_path / "other"), "not a pedsense dataset")
    assert f.read_bytes() == b"someone else's"


# --- run folders: the lock, a resume that must not delete results ---

def test_run_folder_lock(tmp_path, trained):
    run_dir = copy_run(trained[1], tmp_path / "run")
    child = Child(tmp_path, "train", "--resume", run_dir, "--epochs", "30")      # long enough to be busy while the second one tries
    deadline = time.time() + 120
    while not (run_dir / ".lock").exists():
        assert child.p.is_alive() and time.time() < deadline, child.err.read_text()[-500:]
        time.sleep(0.02)
    one_line_error(cli("train", "--resume", run_dir, "--epochs", "30"), "another process")
    assert child.p.is_alive(), "the first resume ended before the second one tried: the lock was not tested"
    os.kill(child.p.pid, signal.SIGTERM)                                        # stopped between or in epochs: resumable, results kept
    one_line_error(child.finish(), "interrupted")
    assert all((run_dir / f).is_file() for f in ("best.pt", "last.pt", "train_state.pt", "metrics.csv", "final_results.json"))
    assert not (run_dir / ".lock").exists() and not leftovers(run_dir)


def test_resume_must_not_delete_results(tmp_path, trained):
    run_dir = copy_run(trained[1], tmp_path / "run")
    (run_dir / "train_state.pt").unlink()
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    one_line_error(cli("train", "--resume", run_dir), "train_state.pt")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_relative_data_path_means_the_runs_dataset(tmp_path, trained):
    a = tmp_path / "A"; run_dir = copy_run(trained[1], a / "run"); shutil.copytree(trained[0] / "data", run_dir / "d")   # read from the run folder
    cfg = json.loads((run_dir / "config.json").read_text()); cfg["data"] = "d"
    (run_dir / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "B").mkdir()
    assert cli("synth", "--out", "d", "--n-train", "2", "--n-val", "2", "--n-test", "6", "--frame-size", "32", cwd=tmp_path / "B")[0] == 0
    code, _, err = cli("evaluate", run_dir, cwd=tmp_path / "B")                 # an old run's relative path: never the working folder's d
    assert code == 0 and json.loads((run_dir / "final_results.json").read_text())["n"] == 4, "evaluated the working folder's d"
    shutil.rmtree(run_dir / "d")                                                # the run's own dataset gone: refused, naming config.json
    one_line_error(cli("evaluate", run_dir, cwd=tmp_path / "B"), "data 'd' in", "config.json")
    assert cli("evaluate", run_dir, "--data", trained[0] / "data", cwd=tmp_path / "B")[0] == 0     # --data replaces it


# --- operating-system errors, settings a model does not read ---

def test_os_errors_are_one_line(tmp_path, trained):
    one_line_error(cli(*synth_args(tmp_path / ("x" * 300))), "xxxxxxxx")                       # a name too long
    (tmp_path / "f").write_text("a file")
    one_line_error(cli(*synth_args(tmp_path / "f" / "X")), "f")                                 # a file where a folder is expected
    one_line_error(cli("train", *CLIP, "--data", trained[0] / "data", "--runs", tmp_path / "f"), "f")
    one_line_error(cli("train", *CLIP, "--data", tmp_path / "f", "--runs", tmp_path / "runs"), "f")
    if os.geteuid() != 0:                                                                      # root writes anywhere
        ro = tmp_path / "ro"; ro.mkdir(); ro.chmod(0o555)
        one_line_error(cli(*synth_args(ro / "X")), "ro")
    assert not leftovers(tmp_path) and not list((tmp_path / "runs").glob("*"))


def test_settings_a_model_does_not_read_are_refused(tmp_path, trained):
    one_line_error(cli("train", *CLIP, "--fusion", "add", "--data", trained[0] / "data", "--runs", tmp_path / "runs"), "--fusion")
    one_line_error(cli("train", "-m", "box-rnn", "--backbone", "resnet34", "--data", trained[0] / "data", "--runs", tmp_path / "runs"), "--backbone")
    one_line_error(cli("train", *CLIP, "-m", "last-frame", "--hidden-size", "64", "--data", trained[0] / "data", "--runs", tmp_path / "runs"),
                   "--hidden-size")
    assert not list((tmp_path / "runs").glob("*"))
