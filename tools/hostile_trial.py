#!/usr/bin/env python
"""A trial of hostile or broken inputs, run through the `pedsense` command as a user handed files by someone else would.

Each case builds its inputs in its own folder, runs one or more `pedsense` commands there (OMP_NUM_THREADS=1, a timeout
each, HOME and TMPDIR inside the case folder, no network), and is classified automatically:

  held         exit 0 where it should succeed and the result is right, or refused correctly: a non-zero exit, exactly one
               line on stderr naming the file or argument, no traceback, nothing left behind, nothing changed
  one line     a non-zero exit without a traceback that is not a correct refusal: the line does not name the file or
               argument, there is more than one line, or a valid input was refused
  traceback    a Python traceback on stderr
  silent       exit 0 where it should refuse, a wrong result, data lost or changed, or anything written outside the folder
               the command was given (an id or archive member that escapes), code run by a file that should only be read
  left behind  temporary files or folders (or a half-written output) after a failure or a SIGTERM
  hang         (only if it happens) no answer within the case's timeout

How commands run: by default each command is a child forked from this process after it imported `pedsense.cli` (so a case
costs what the command does, not the ~8 s of importing torch and fastai); the child sets argv, the working folder, the
environment, stdin/stdout/stderr, then calls `pedsense.cli.main()` exactly as the console script does (uncaught exceptions
print their traceback; atexit handlers run). Cases marked `exec` (memory, a SIGTERM, the real binary's import-time
warnings) run the installed `pedsense` executable itself; `--exec` runs every case that way (slow on a loaded machine).
Memory is the child's peak resident size from `wait4` (in fork mode: above the forked parent's own, measured first).
Operating-system refusals are made real for root by dropping CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH in the child (a folder
with mode 555 is then read-only to it); a full disk is a file-size limit (RLIMIT_FSIZE, writes fail with EFBIG).

Usage: .venv/bin/python tools/hostile_trial.py [--work DIR] [--keep] [--exec] [-k TEXT] [--json FILE] [--findings FILE]
It prints a table of the cases and the counts per class and exits 0: it is a report, not a test (tests/test_bad_inputs.py
is the suite's fast subset). Each case's folder keeps its commands' stdout/stderr (out_*.txt, err_*.txt) with --keep.
"""
from __future__ import annotations
import argparse, atexit, ctypes, io, json, os, re, resource, shutil, signal, stat, struct, sys, tempfile, time, traceback, zipfile, zlib
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")          # before torch is imported (fork mode imports it here)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import write_test_video as write_video   # noqa: E402  (the tests' small grey video)
ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT / "tests" / "data" / "jaad_subset"
CLASSES = ("held", "one line", "traceback", "silent", "left behind", "hang")
SEVERITY = {"held": 0, "one line": 1, "left behind": 2, "traceback": 3, "hang": 4, "silent": 5}
TMP_NAME = re.compile(r"^\..+\.(tmp|old\.\d+)$|\.tmp$|^\.lock$")
OWNERS = {  # module -> notebook (and who edits it now), for the findings list
    "core": "pedsense.core / nbs/90_core.ipynb (lead)", "cli": "pedsense.cli / nbs/16_cli.ipynb (lead)",
    "data": "pedsense.data / nbs/00_data.ipynb (data)", "synth": "pedsense.synth / nbs/01_synthetic.ipynb (data)",
    "jaad": "pedsense.jaad / nbs/02_jaad.ipynb (data)", "models": "pedsense.models / nbs/03_models.ipynb",
    "trajectory": "pedsense.trajectory / nbs/04_trajectory.ipynb", "video": "pedsense.video / nbs/06_video.ipynb",
    "learner": "pedsense.learner / nbs/07_training.ipynb", "metrics": "pedsense.metrics / nbs/08_metrics.ipynb",
    "evaluate": "pedsense.evaluate / nbs/09_evaluate.ipynb", "benchmark": "pedsense.benchmark / nbs/10_benchmark.ipynb",
    "crops": "pedsense.crops / nbs/11_crops.ipynb (parttwo)", "config": "pedsense.config / nbs/12_config.ipynb (parttwo)",
    "runs": "pedsense.runs / nbs/13_runs.ipynb (parttwo)", "performance": "pedsense.performance / nbs/15_performance.ipynb (parttwo)",
}


# ----------------------------------------------------------------------------------------------------------------------
# Running one command: a forked child that calls pedsense.cli.main(), or the installed executable
# ----------------------------------------------------------------------------------------------------------------------

def _drop_dac():
    "Make root obey permission bits: drop CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) now and for anything it execs."
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2): libc.prctl(24, cap, 0, 0, 0)    # PR_CAPBSET_DROP: gone after exec too
    class Hdr(ctypes.Structure): _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure): _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
    hdr, data = Hdr(0x20080522, 0), (Data * 2)()
    if libc.capget(ctypes.byref(hdr), data) != 0: raise OSError(ctypes.get_errno(), "capget")
    for attr in ("effective", "permitted", "inheritable"): setattr(data[0], attr, getattr(data[0], attr) & ~0b110)
    if libc.capset(ctypes.byref(hdr), data) != 0: raise OSError(ctypes.get_errno(), "capset")


@dataclass
class Proc:
    pid: int
    out: Path
    err: Path
    t0: float
    mode: str
    rc: int | None = None
    maxrss_mb: float = 0.0
    timed_out: bool = False
    seconds: float = 0.0
    pipe: int | None = None          # stderr's read end, when the child's files are size-limited (a pipe is not)

    @property
    def stdout(self) -> str: return self.out.read_text(errors="replace") if self.out.exists() else ""
    @property
    def stderr(self) -> str: return self.err.read_text(errors="replace") if self.err.exists() else ""


class Runner:
    "Starts `pedsense` commands as forked children (default) or as the installed executable, and waits for them."
    def __init__(self, pedsense: Path, exec_all: bool):
        self.pedsense, self.exec_all, self.fork_ok = pedsense, exec_all, False
        if not exec_all:
            try:
                import pedsense.cli  # noqa: F401  (the child calls it; what a command imports lazily, the child imports, as the executable does)
                self.fork_ok = True
            except Exception as e:
                print(f"note: pedsense.cli does not import in this Python ({type(e).__name__}: {e}); every case runs the executable")
        self.vm_kb = self._vm_kb()
        self.base_rss_mb = {"fork": 0.0, "exec": 0.0}   # peak resident memory of `pedsense --version`, subtracted from each command's

    @staticmethod
    def _vm_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"): return int(line.split()[1])
        return 0

    def start(self, argv, *, cwd: Path, env: dict, out: Path, err: Path, exec_: bool = False, no_dac: bool = False,
              fsize: int | None = None, stdin: Path | None = None) -> Proc:
        argv = [str(a) for a in argv]
        mode = "exec" if (exec_ or self.exec_all or not self.fork_ok) else "fork"
        sys.stdout.flush(); sys.stderr.flush()
        r = w = None
        if fsize is not None: r, w = os.pipe(); os.set_blocking(r, False); Path(out).write_text("(stdout not kept: file size limit)\n")
        pid = os.fork()
        if pid == 0:
            if r is not None: os.close(r)
            self._child(argv, cwd, env, out, err, mode, no_dac, fsize, stdin, w)
        if w is not None: os.close(w); Path(err).write_bytes(b"")
        return Proc(pid, out, err, time.time(), mode, pipe=r)

    def _child(self, argv, cwd, env, out, err, mode, no_dac, fsize, stdin, err_pipe=None):
        code = 1
        try:
            os.setsid()
            fd = os.open(stdin or os.devnull, os.O_RDONLY); os.dup2(fd, 0)
            if err_pipe is not None:                       # a size limit applies to every file the child writes: not to these
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1); os.dup2(err_pipe, 2)
            else:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.dup2(fd, 1)
                fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.dup2(fd, 2)
            os.chdir(cwd)
            os.environ.clear(); os.environ.update(env)
            tempfile.tempdir = None
            limit = (self.vm_kb * 1024 + (4 << 30)) if mode == "fork" else (16 << 30)   # a runaway read ends in MemoryError, not the OOM killer
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            if fsize is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)          # writes past the limit fail with EFBIG, as on a full disk
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if no_dac: _drop_dac()
            if mode == "exec":
                os.execve(str(self.pedsense), [str(self.pedsense), *argv], env)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            sys.argv = ["pedsense", *argv]
            from pedsense.cli import main
            try: code = main()
            except SystemExit as e: code = e.code
            except BaseException:                                  # what the interpreter prints for an uncaught exception
                traceback.print_exc(); code = 1
            if isinstance(code, str): print(code, file=sys.stderr); code = 1
            code = 0 if code is None else int(code)
            try: atexit._run_exitfuncs()
            except BaseException: traceback.print_exc()
            sys.stdout.flush(); sys.stderr.flush()
        except BaseException:
            try: print("HARNESS ERROR in the child:", file=sys.stderr); traceback.print_exc(); sys.stderr.flush()
            except BaseException: pass
            code = 99
        os._exit(code)

    @staticmethod
    def _drain(p: Proc):
        if p.pipe is None: return
        try:
            while chunk := os.read(p.pipe, 65536):
                with open(p.err, "ab") as f: f.write(chunk)
        except BlockingIOError: pass

    def wait(self, p: Proc, timeout: float) -> Proc:
        deadline = p.t0 + timeout
        while True:
            self._drain(p)
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                self._drain(p)
                if p.pipe is not None: os.close(p.pipe); p.pipe = None
                p.rc = os.waitstatus_to_exitcode(status)
                p.maxrss_mb = ru.ru_maxrss / 1024 - self.base_rss_mb[p.mode]   # above what starting pedsense takes
                p.seconds = time.time() - p.t0
                return p
            if time.time() > deadline and not p.timed_out:
                p.timed_out = True
                try: os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError: pass
            time.sleep(0.05)

    def signal(self, p: Proc, sig: int):
        try: os.kill(p.pid, sig)
        except ProcessLookupError: pass


# ----------------------------------------------------------------------------------------------------------------------
# A case: its folder, its commands, its verdicts
# ----------------------------------------------------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, tuple]:
    "Every path under `root`: (kind, size, mtime_ns, inode) for files, ('d', ..., inode) for folders."
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try: st = os.lstat(p)
            except OSError: continue
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "o"
            if kind == "f" and st.st_size <= 1 << 18 and os.access(p, os.R_OK):     # small files by content: a rewrite of the same bytes is no change
                try:
                    with open(p, "rb") as fh: stamp = zlib.crc32(fh.read())
                except OSError: stamp = st.st_mtime_ns
            else: stamp = st.st_mtime_ns if kind == "f" else 0
            snap[os.path.relpath(p, root)] = (kind, st.st_size if kind == "f" else 0, stamp, st.st_ino)
    return snap


def ignored(rel: str) -> bool:
    "Caches of the libraries pedsense uses, made at import (torch's inductor folder in TMPDIR, fonts, config), not by a command."
    return rel.startswith(("home/.cache", "home/.config", "tmp/torchinductor_"))


def under(rel: str, roots) -> bool:
    return any(rel == r or rel.startswith(r.rstrip("/") + "/") for r in roots)


@dataclass
class Verdict:
    cls: str
    detail: str
    command: str = ""


class Case:
    def __init__(self, trial: "Trial", idx: int, name: str, kind: str, owner: str, exec_: bool):
        self.trial, self.idx, self.name, self.kind, self.owner, self.exec_ = trial, idx, name, kind, owner, exec_
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]
        self.dir = trial.cases / f"{idx:03d}_{slug}"
        self.w, self.home, self.tmp = self.dir / "w", self.dir / "home", self.dir / "tmp"
        for d in (self.w, self.home, self.tmp): d.mkdir(parents=True)
        self.verdicts: list[Verdict] = []
        self.seconds, self.maxrss_mb, self.modes = 0.0, 0.0, set()

    # --- inputs ---
    def env(self, **extra) -> dict:
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "TMPDIR": str(self.tmp),
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8", "MPLCONFIGDIR": str(self.trial.mpl),
             "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
             "NO_COLOR": "1", "CUDA_VISIBLE_DEVICES": ""}
        e.update({k: str(v) for k, v in extra.items() if v is not None})
        return {k: v for k, v in e.items() if not (k in extra and extra[k] is None)}

    def p(self, rel) -> Path: return self.w / rel

    # --- commands ---
    def start(self, argv, *, env=None, exec_=None, no_dac=False, fsize=None, cwd=None, tag="") -> Proc:
        n = len(self.modes) + len(self.verdicts) + (hash(tag) % 1000 if tag else 0)
        k = f"{time.time_ns() % 10**9}_{n}"
        p = self.trial.runner.start(argv, cwd=cwd or self.w, env=env or self.env(), out=self.dir / f"out_{k}.txt",
                                    err=self.dir / f"err_{k}.txt", exec_=self.exec_ if exec_ is None else exec_, no_dac=no_dac, fsize=fsize)
        p.argv = [str(a) for a in argv]
        return p

    def wait(self, p: Proc, timeout: float = 120) -> Proc:
        self.trial.runner.wait(p, timeout)
        self.seconds += p.seconds; self.maxrss_mb = max(self.maxrss_mb, p.maxrss_mb); self.modes.add(p.mode)
        return p

    def run(self, argv, expect: str = "refuse", words=(), *, writes=(), keep=(), check=None, timeout: float = 120,
            env=None, exec_=None, no_dac=False, fsize=None, cwd=None, mem_mb: float | None = None, escape=(), quiet_fs=False) -> Proc:
        "Run one command and judge it: `expect` ok / refuse / either; `writes`: the paths (relative to w/) it may change."
        before = snapshot(self.dir)
        p = self.wait(self.start(argv, env=env, exec_=exec_, no_dac=no_dac, fsize=fsize, cwd=cwd), timeout)
        self.judge(p, expect, words, check=check, mem_mb=mem_mb)
        if not quiet_fs: self.judge_fs(before, p, writes=writes, keep=keep, escape=escape)
        return p

    def cmd(self, p: Proc) -> str:
        short = lambda a: (os.path.relpath(a, self.w) if a.startswith(str(self.dir)) else
                           "FIXTURE/" + os.path.relpath(a, self.trial.fix) if a.startswith(str(self.trial.fix)) else a)
        return "pedsense " + " ".join(a if len(a) < 80 else a[:40] + "..." for a in map(short, p.argv))

    def note(self, cls: str, detail: str, p: Proc | None = None):
        for d in (self.w, self.dir, self.trial.fix, self.trial.work): detail = detail.replace(f"{d}/", "").replace(str(d), ".")
        self.verdicts.append(Verdict(cls, detail, self.cmd(p) if p is not None else ""))

    def judge(self, p: Proc, expect: str, words=(), *, check=None, mem_mb=None):
        err = p.stderr
        lines = [l for l in err.splitlines() if l.strip()]
        first = lines[-1][:160] if lines else ""
        if mem_mb is not None and p.maxrss_mb > mem_mb:
            self.note("silent", f"peak memory {p.maxrss_mb:.0f} MB above the process's own (limit {mem_mb:.0f} MB)", p)
        if p.timed_out: return self.note("hang", f"no answer in {p.seconds:.0f} s (killed)", p)
        if "HARNESS ERROR" in err: raise RuntimeError("the forked child failed before running pedsense: " + first)
        if "Traceback (most recent call last)" in err:
            return self.note("traceback", f"exit {p.rc}: {first}" + where_in_pedsense(err), p)
        if p.rc == 0:
            if expect == "refuse": return self.note("silent", "exit 0: accepted what it should refuse" + (f" (stderr: {first})" if first else ""), p)
            problem = check() if check else None
            return self.note("silent" if problem else "held", problem or "ok", p)
        if expect == "ok": return self.note("one line", f"refused a valid input (exit {p.rc}): {first}", p)
        missing = [w for w in words if str(w) not in "\n".join(lines)]
        if len(lines) != 1: return self.note("one line", f"{len(lines)} stderr lines; last: {first}", p)
        if missing: return self.note("one line", f"does not name {', '.join(map(str, missing))}: {first}", p)
        self.note("held", f"refused: {first}", p)

    def judge_fs(self, before: dict, p: Proc | None, *, writes=(), keep=(), escape=(), failed: bool | None = None):
        "Temporary files left, paths written outside `writes`, escapes, pre-existing data changed or lost."
        after = snapshot(self.dir)
        failed = (p.rc != 0) if failed is None else failed
        skip = lambda rel: rel.startswith(("out_", "err_")) or rel in ("w", "home", "tmp") or ignored(rel)
        wr = [os.path.normpath("w/" + str(x)) for x in writes]
        new = [r for r in after if r not in before and not skip(r)]
        gone = [r for r in before if r not in after and not skip(r)]
        changed = [r for r in after if r in before and after[r][0] == "f" and after[r][:3] != before[r][:3]]
        esc = [r for r in new if any(e in r for e in escape) or not (r.startswith(("w/", "home/", "tmp/")))]
        if esc: return self.note("silent", f"wrote outside the folder it was given: {esc[0]}", p)
        temps = [r for r in after if TMP_NAME.search(Path(r).name) and (r in new or failed) and not skip(r)]
        in_tmp = [r for r in after if r.startswith("tmp/") and not ignored(r)]
        if in_tmp: temps.append(in_tmp[0])
        lost = [r for r in gone + changed if not under(r, wr) or failed]
        if lost: return self.note("silent", f"{'failed and ' if failed else ''}changed or removed what was there: {lost[0]} ({len(lost)} path(s))", p)
        if temps: return self.note("left behind", f"left {temps[0]}", p)
        if failed:
            made = [r for r in new if not (after[r][0] == "d" and under(r, ["w/" + k for k in keep]))]
            if made: return self.note("left behind", f"failed and left {made[0]} ({len(made)} path(s))", p)
        else:
            out = [r for r in new + changed if not under(r, wr)]
            if out: return self.note("silent", f"wrote outside its output: {out[0]}", p)

    @property
    def cls(self) -> str:
        if not self.verdicts: return "held"
        return max((v.cls for v in self.verdicts), key=SEVERITY.get)

    @property
    def detail(self) -> str:
        bad = [v for v in self.verdicts if v.cls == self.cls]
        return bad[0].detail if bad else ""

    @property
    def command(self) -> str:
        bad = [v for v in self.verdicts if v.cls == self.cls]
        return bad[0].command if bad else ""


def where_in_pedsense(err: str) -> str:
    "` (in pedsense/x.py)` for the last pedsense frame of a traceback."
    frames = re.findall(r'File "[^"]*?pedsense/([a-z_]+)\.py", line (\d+)', err)
    return f" (pedsense/{frames[-1][0]}.py:{frames[-1][1]})" if frames else ""


# ----------------------------------------------------------------------------------------------------------------------
# Registry of cases
# ----------------------------------------------------------------------------------------------------------------------

CASES: list[tuple] = []
EXPECTED: dict[str, str] = {}     # what a case should do, for the findings list (set by the case definitions)

def case(kind: str, owner: str, name: str, *, exec_: bool = False, needs: str | None = None, should: str | None = None):
    "Register a case: `kind` groups the table, `owner` is the module that should hold, `needs` the fixtures it uses."
    if should: EXPECTED[name] = should
    def add(fn):
        CASES.append((kind, owner, name, fn, exec_, needs)); return fn
    return add


# ----------------------------------------------------------------------------------------------------------------------
# Making hostile files
# ----------------------------------------------------------------------------------------------------------------------

def put(path, data) -> Path:
    "Write `data` (bytes or str) to `path`, replacing a file (or a hard link to a fixture) rather than writing into it."
    path = Path(path)
    if path.is_symlink() or path.is_file(): path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def sub(path, old: str, new: str, count: int = -1) -> Path:
    "Replace `old` by `new` in a text file (which must hold `old`)."
    text = Path(path).read_text()
    if old not in text: raise AssertionError(f"{path}: {old!r} not found")
    return put(path, text.replace(old, new, count))


def sub_re(path, pattern: str, repl, count: int = 0) -> Path:
    text, n = re.subn(pattern, repl, Path(path).read_text(), count=count)
    if not n: raise AssertionError(f"{path}: {pattern!r} not found")
    return put(path, text)


def link_tree(src, dst) -> Path:
    "A copy of a folder whose files are hard links (cheap); replace a file with `put`, never write into it."
    shutil.copytree(src, dst, copy_function=os.link, symlinks=True)
    return Path(dst)


def zip_dir(folder, dest, prefix: str = "JAAD-master", *, extra: dict | None = None) -> Path:
    "Zip `folder` under `prefix/`, adding `extra` {member name: bytes}."
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file(): z.write(p, f"{prefix}/{p.relative_to(folder)}")
        for name, data in (extra or {}).items(): z.writestr(name, data)
    return Path(dest)


def png(path, w: int, h: int, *, bit_depth: int = 8, color_type: int = 2, fill: int = 0) -> Path:
    "A PNG written row by row (a 12000x12000 image without holding it in memory)."
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\0" + bytes([fill]) * (w * channels * bit_depth // 8)
    comp, parts = zlib.compressobj(6), []
    for _ in range(h): parts.append(comp.compress(row))
    parts.append(comp.flush())
    return put(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
               + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


BILLION_LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
                  + ']>\n')
def laughs(root: str) -> str: return BILLION_LAUGHS + f"<{root}>&lol9;</{root}>"
def xxe(root: str) -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<{root}>&x;</{root}>'


class Evil:
    "Unpickling this runs `touch MARKER`: what a code-carrying checkpoint or cache does."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f"touch {self.marker}",))


def in_child(fn, *args):
    "Run `fn(*args)` in a forked child (torch and video encoders start threads; the parent keeps none)."
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try: fn(*args)
        except BaseException: traceback.print_exc(); code = 1
        sys.stdout.flush(); sys.stderr.flush(); os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status: raise RuntimeError(f"{getattr(fn, '__name__', fn)}{args!r} failed in a child")


def _torch_save(obj_kind: str, path, marker=None, src=None, value=None):
    import torch
    if obj_kind == "evil": torch.save(Evil(marker), path)
    elif obj_kind == "evil_state": torch.save({"model": Evil(marker), "epoch": 0}, path)
    elif obj_kind == "weights":                                   # every float tensor of a state dict set to `value`
        sd = torch.load(src, weights_only=True)
        torch.save({k: (torch.full_like(v, value) if v.is_floating_point() else v) for k, v in sd.items()}, path)
    elif obj_kind == "dict": torch.save({"hello": torch.zeros(2)}, path)
    elif obj_kind == "evil_npz":
        import numpy as np
        np.savez(path, boxes=np.array([Evil(marker)], dtype=object))


def torch_file(kind: str, path, **kw) -> Path:
    path = Path(path)
    if path.is_file() or path.is_symlink(): path.unlink()
    in_child(_torch_save, kind, str(path), kw.get("marker"), kw.get("src"), kw.get("value"))
    return path


def patch_zip_member(path, member: str, *, flag: int | None = None, method: int | None = None, size: int | None = None):
    "Change a member's general-purpose flag, compression method or uncompressed size in both of its headers."
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(path) as z: info = z.getinfo(member)
    lh = info.header_offset
    cd = data.find(b"PK\x01\x02")                                 # its central directory entry, found by name
    while cd != -1:
        n = struct.unpack("<H", data[cd + 28:cd + 30])[0]
        if data[cd + 46:cd + 46 + n].decode() == member: break
        cd = data.find(b"PK\x01\x02", cd + 4)
    if flag is not None:
        struct.pack_into("<H", data, lh + 6, flag); struct.pack_into("<H", data, cd + 8, flag)
    if method is not None:
        struct.pack_into("<H", data, lh + 8, method); struct.pack_into("<H", data, cd + 10, method)
    if size is not None:
        struct.pack_into("<I", data, lh + 22, size); struct.pack_into("<I", data, cd + 24, size)
    Path(path).write_bytes(bytes(data))


# ----------------------------------------------------------------------------------------------------------------------
# The trial: fixtures made once, then every case in its own folder
# ----------------------------------------------------------------------------------------------------------------------

class Trial:
    def __init__(self, work: Path, runner: Runner):
        self.work, self.runner = work, runner
        self.cases, self.fix, self.mpl = work / "cases", work / "fixtures", work / "mpl"
        for d in (self.cases, self.fix, self.mpl): d.mkdir(parents=True, exist_ok=True)
        self.have: dict[str, object] = {}
        self.results: list[Case] = []
        self.video_module = False

    def command(self, argv, cwd: Path, timeout: float = 600) -> Proc:
        "Run a fixture command (not judged); a failure is reported and the cases that need it are not run."
        p = self.runner.start(argv, cwd=cwd, env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.fix / "home"),
                                                   "TMPDIR": str(self.fix / "tmp"), "OMP_NUM_THREADS": "1",
                                                   "MPLCONFIGDIR": str(self.mpl), "CUDA_VISIBLE_DEVICES": "",
                                                   "https_proxy": "http://127.0.0.1:9"},
                              out=self.fix / "out.txt", err=self.fix / "err.txt")
        self.runner.wait(p, timeout)
        if p.rc != 0: print(f"fixture failed: pedsense {' '.join(map(str, argv))}\n{p.stderr[-1500:]}")
        return p

    def build_fixtures(self):
        f, t0 = self.fix, time.time()
        (f / "home").mkdir(exist_ok=True); (f / "tmp").mkdir(exist_ok=True)
        env = {"PATH": "/usr/bin", "OMP_NUM_THREADS": "1", "HOME": str(f / "home"), "TMPDIR": str(f / "tmp")}
        base = self.runner.start(["--version"], cwd=f, env=env, out=f / "v.txt", err=f / "v_err.txt")
        self.runner.wait(base, 120); self.runner.base_rss_mb[base.mode] = base.maxrss_mb
        exec_base = self.runner.start(["--version"], cwd=f, env=env, out=f / "v2.txt", err=f / "v2_err.txt", exec_=True) \
            if base.mode == "fork" and any(c[4] for c in CASES) else None      # measured while the fixtures are made
        import importlib.util
        self.video_module = importlib.util.find_spec("pedsense.video") is not None
        steps = {
            "synth": ["synth", "--out", f / "synth", "--n-train", "8", "--n-val", "4", "--n-test", "4", "--frame-size", "32"],
            "run": ["train", "--preset", "debug", "--crop-size", "32", "--data", f / "synth", "--runs", f / "runs", "-n", "ok"],
            "samples": ["preprocess", "jaad", "--jaad", SUBSET, "--out", f / "samples"],
            "boxrun": ["train", "-m", "box-rnn", "-e", "1", "-b", "16", "--data", f / "samples", "--runs", f / "runs", "-n", "box"],
        }
        for key, argv in steps.items():
            if key in ("run",) and "synth" not in self.have: continue
            if key in ("boxrun",) and "samples" not in self.have: continue
            if self.command(argv, f).rc == 0: self.have[key] = True
        for key, prefix in (("run", "ok_"), ("boxrun", "box_")):
            if key in self.have: self.have[key] = next((f / "runs").glob(prefix + "*"))
        if "run" in self.have and self.command(["evaluate", self.have["run"]], f).rc != 0: del self.have["run"]
        if "boxrun" in self.have and self.command(["evaluate", self.have["boxrun"]], f).rc != 0: del self.have["boxrun"]
        # JAAD scaled down five times, with small grey clips of the right lengths: cropping without JAAD's videos
        small = f / "small_jaad"; shutil.copytree(SUBSET, small)
        for x in (small / "annotations").glob("*.xml"):
            sub_re(x, r'(xtl|xbr|ytl|ybr)="([0-9.]+)"', lambda m: f'{m.group(1)}="{float(m.group(2)) / 5:.2f}"')
            sub(x, "<width>1920</width><height>1080</height>", "<width>384</width><height>216</height>")
        try:
            (f / "clips").mkdir()
            for x in sorted((small / "annotations").glob("*.xml")):
                n = int(re.search(r"<size>(\d+)</size>", x.read_text()).group(1))
                in_child(write_video, str(f / "clips" / f"{x.stem}.mp4"), n, 384, 216)
            in_child(write_video, str(f / "short.mp4"), 12, 384, 216)
            self.have["clips"] = True
        except Exception as e: print(f"fixture failed: test videos ({e}); the cropping cases are not run")
        self.have["small_jaad"] = True
        # archives and images
        zip_dir(SUBSET, f / "subset.zip")
        with zipfile.ZipFile(f / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:        # a 1 GiB annotation file in a ~1 MB zip
            for p in sorted(SUBSET.rglob("*")):
                rel = f"JAAD-master/{p.relative_to(SUBSET)}"
                if p.is_file() and rel != "JAAD-master/annotations/video_0001.xml": z.write(p, rel)
            with z.open("JAAD-master/annotations/video_0001.xml", "w", force_zip64=True) as m:
                block = b" " * (1 << 20)
                for _ in range(1024): m.write(block)
        with zipfile.ZipFile(f / "liar.zip", "w", zipfile.ZIP_DEFLATED) as z:         # a member that says 1000 bytes and holds 200 MB
            for p in sorted(SUBSET.rglob("*")):
                rel = f"JAAD-master/{p.relative_to(SUBSET)}"
                if p.is_file() and rel != "JAAD-master/annotations/video_0001.xml": z.write(p, rel)
            z.writestr("JAAD-master/annotations/video_0001.xml", b"<annotations>" + b" " * (200 << 20) + b"</annotations>")
        patch_zip_member(f / "liar.zip", "JAAD-master/annotations/video_0001.xml", size=1000)
        png(f / "huge.png", 12000, 12000)
        png(f / "deep16.png", 32, 32, bit_depth=16, color_type=0, fill=40)
        self.have["files"] = True
        if exec_base is not None: self.runner.wait(exec_base, 300); self.runner.base_rss_mb["exec"] = exec_base.maxrss_mb
        print(f"fixtures ready in {time.time() - t0:.0f} s: {', '.join(sorted(self.have))}; `pedsense --version` takes "
              + ", ".join(f"{v:.0f} MB ({k})" for k, v in self.runner.base_rss_mb.items() if v) + " (subtracted from each case's peak)")
        self.fixture_snapshot = snapshot(f)

    def run_cases(self, only: str | None):
        todo = [c for c in CASES if not only or only in c[2] or only == c[0]]
        for i, (kind, owner, name, fn, exec_, needs) in enumerate(todo, 1):
            missing = [n for n in (needs or "").split() if n not in self.have and not (n == "video" and self.video_module)]
            c = Case(self, i, name, kind, owner, exec_)
            t0 = time.time()
            if missing:
                c.skipped = f"not run: needs {', '.join(missing)}" + (" (pedsense.video does not exist yet)" if "video" in missing else "")
            else:
                c.skipped = None
                try: fn(c)
                except Exception as e:                     # the trial's own mistake: not counted against pedsense
                    c.skipped = f"not counted: the trial failed to set the case up ({type(e).__name__}: {e})"
                    traceback.print_exc()
            c.wall = time.time() - t0
            self.results.append(c)
            status = c.skipped or f"{c.cls:11s} {c.detail[:110]}"
            print(f"{i:3d} {kind:11s} {c.wall:5.1f}s {name[:58]:58s} {status}", flush=True)
        if hasattr(self, "fixture_snapshot"):
            now = snapshot(self.fix)
            changed = [r for r in self.fixture_snapshot if now.get(r, ("gone",))[:3] != self.fixture_snapshot[r][:3] and self.fixture_snapshot[r][0] == "f"]
            if changed: print(f"WARNING: the cases changed fixture files in place (shared by hard links): {changed[:5]}")

    def report(self, json_path: Path | None, findings: Path | None):
        done = [c for c in self.results if not c.skipped]
        print("\n" + "=" * 150)
        print(f"{'#':>3} {'kind':11s} {'class':11s} {'mode':9s} {'+MB':>6s} case / what happened   (+MB: peak memory above `pedsense --version`'s)")
        for c in self.results:
            if c.skipped: print(f"{c.idx:3d} {c.kind:11s} {'-':11s} {'-':9s} {'':>6s} {c.name}: {c.skipped}"); continue
            print(f"{c.idx:3d} {c.kind:11s} {c.cls:11s} {'/'.join(sorted(c.modes)) or '-':9s} {c.maxrss_mb:6.0f} {c.name}: {c.detail[:150]}")
        counts = {k: sum(c.cls == k for c in done) for k in CLASSES}
        print("\ncounts:", ", ".join(f"{k} {v}" for k, v in counts.items() if v or k != "hang"),
              f"(of {len(done)} cases run; {len(self.results) - len(done)} not run)")
        kinds = sorted({c.kind for c in done})
        print(f"\n{'kind':12s}" + "".join(f"{k:>12s}" for k in CLASSES))
        for k in kinds: print(f"{k:12s}" + "".join(f"{sum(c.kind == k and c.cls == x for c in done):12d}" for x in CLASSES))
        if json_path:
            json_path.write_text(json.dumps([dict(idx=c.idx, kind=c.kind, name=c.name, cls=None if c.skipped else c.cls,
                                                  detail=c.skipped or c.detail, command=c.command, owner=c.owner,
                                                  seconds=round(c.wall, 1), maxrss_mb=round(c.maxrss_mb),
                                                  verdicts=[vars(v) for v in c.verdicts]) for c in self.results], indent=1))
        if findings:
            with open(findings, "w") as fh:
                for c in done:
                    if c.cls == "held": continue
                    owner = OWNERS.get(c.owner, c.owner)
                    m = re.search(r"\(pedsense/([a-z_]+)\.py:\d+\)", c.detail)
                    if m and m.group(1) in OWNERS: owner = OWNERS[m.group(1)]
                    fh.write(f"- [{c.cls}] `{c.command}` ({c.name}): {c.detail} -- should: {EXPECTED.get(c.name, 'refuse with one line naming the file/argument, leave nothing') } -- owner: {owner}\n")

    def cleanup(self):
        for c in self.results:                       # read-only folders made for the OS-error cases
            for dirpath, dirnames, _ in os.walk(c.dir):
                for d in dirnames:
                    try: os.chmod(os.path.join(dirpath, d), 0o755)
                    except OSError: pass




def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="scratch folder, emptied first (default: a new temporary folder)")
    ap.add_argument("--pedsense", type=Path, default=Path(sys.executable).parent / "pedsense", help="the installed command")
    ap.add_argument("--exec", dest="exec_all", action="store_true", help="run every case with the executable (slow)")
    ap.add_argument("-k", dest="only", help="only the cases whose name holds this text (or of this kind)")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--findings", type=Path, help="write one line per case that did not hold")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args(argv)
    if a.work is None: a.work = Path(tempfile.mkdtemp(prefix="pedsense_hostile_"))
    if a.work.exists():
        if not (a.work / ".hostile_trial").exists() and any(a.work.iterdir()):
            sys.exit(f"{a.work}: not a folder this trial made (no .hostile_trial in it); give another --work")
        for dirpath, dirnames, _ in os.walk(a.work):
            for d in dirnames:
                try: os.chmod(os.path.join(dirpath, d), 0o755)
                except OSError: pass
        shutil.rmtree(a.work)
    a.work.mkdir(parents=True); (a.work / ".hostile_trial").touch()
    t0 = time.time()
    trial = Trial(a.work, Runner(a.pedsense, a.exec_all))
    trial.build_fixtures()
    trial.run_cases(a.only)
    trial.cleanup()
    trial.report(a.json, a.findings)
    print(f"\ntrial took {time.time() - t0:.0f} s; scratch folder {a.work}")
    if not a.keep: shutil.rmtree(a.work, ignore_errors=True)
    return 0


# ----------------------------------------------------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------------------------------------------------

A = lambda j, v="video_0001": Path(j) / "annotations" / f"{v}.xml"
ATT = lambda j, v="video_0001": Path(j) / "annotations_attributes" / f"{v}_attributes.xml"
VEH = lambda j, v="video_0001": Path(j) / "annotations_vehicle" / f"{v}_vehicle.xml"
SPLIT = lambda j, s="train": Path(j) / "split_ids" / "default" / f"{s}.txt"
ESC = "../" * 6 + "escaped_0_1_3b"                     # lands in the case folder, outside w/, wherever it is joined


def jaad_copy(c: Case, name: str = "jaad", src: Path = SUBSET) -> Path:
    return Path(shutil.copytree(src, c.p(name)))


def jaad_cmd(j, *extra, out="out"): return ["preprocess", "jaad", "--jaad", j, "--out", out, *extra]


def jaad_case(kind: str, name: str, edit, words, expect: str = "refuse", *, zipped: bool = False, small: bool = False,
              extra=(), owner: str = "jaad", should: str | None = None, mem_mb: float | None = None, timeout: float = 120,
              no_dac: bool = False):
    "A case that edits a copy of the JAAD subset with `edit(folder)` and runs `pedsense preprocess jaad` on it."
    def fn(c: Case):
        j = jaad_copy(c, src=c.trial.fix / "small_jaad" if small else SUBSET)
        edit(j)
        src = zip_dir(j, c.p("jaad.zip")) if zipped else j
        ex = [c.trial.fix / "clips" if e == "CLIPS" else e for e in extra]
        c.run(jaad_cmd(src, *ex), expect, words, writes=["out"], escape=["escaped"], mem_mb=mem_mb, timeout=timeout, no_dac=no_dac)
    case(kind, owner, name, needs="clips" if "CLIPS" in extra else None)(fn)
    if should: EXPECTED[name] = should


def first_id(path) -> str: return re.search(r'<attribute name="id">([^<]+)<', Path(path).read_text()).group(1)


def rename_pid(j, video: str, old: str, new: str):
    sub(A(j, video), f">{old}<", f">{new}<"); sub(ATT(j, video), f'id="{old}"', f'id="{new}"')


# --- ids that escape (annotations, attributes, split lists, labels.csv, run names) ---
jaad_case("ids", "pedestrian id ../ in annotations and attributes", lambda j: rename_pid(j, "video_0001", "0_1_3b", ESC),
          ["video_0001", "escaped_0_1_3b"], should="refuse naming the file and the id; write nothing anywhere")
jaad_case("ids", "pedestrian id ../ with --clips (crops become folders)", lambda j: rename_pid(j, "video_0001", "0_1_3b", ESC),
          ["video_0001", "escaped_0_1_3b"], small=True, extra=("--clips", "CLIPS", "--frame-size", "32", "--skip-missing"),
          owner="crops", should="refuse naming the file and the id; no folder outside --out")
jaad_case("ids", "absolute pedestrian id", lambda j: rename_pid(j, "video_0001", "0_1_3b", "/tmp/escaped_abs"), ["video_0001", "escaped_abs"])
jaad_case("ids", "pedestrian id '..'", lambda j: rename_pid(j, "video_0001", "0_1_3b", ".."), ["video_0001"])
jaad_case("ids", "pedestrian id with a slash inside", lambda j: rename_pid(j, "video_0001", "0_1_3b", "0_1/3b"), ["video_0001", "0_1/3b"])
jaad_case("ids", "pedestrian id with a newline", lambda j: rename_pid(j, "video_0001", "0_1_3b", "0_1_3b&#10;evil"), ["video_0001"])
jaad_case("ids", "pedestrian id of 300 characters", lambda j: rename_pid(j, "video_0001", "0_1_3b", "p" * 300), ["video_0001"])
jaad_case("ids", "pedestrian id ../ only in attributes", lambda j: sub(ATT(j), 'id="0_1_3b"', f'id="{ESC}"'),
          ["video_0001_attributes.xml", "escaped_0_1_3b"])
jaad_case("ids", "pedestrian id ../ only in annotations", lambda j: sub(A(j), ">0_1_3b<", f">{ESC}<"), ["video_0001.xml", "escaped_0_1_3b"])
jaad_case("ids", "video id ../ in a split list", lambda j: put(SPLIT(j), SPLIT(j).read_text() + "../../escaped_video\n"),
          ["train.txt", "escaped_video"], "either")
jaad_case("ids", "video id in a split list with no annotations", lambda j: put(SPLIT(j), SPLIT(j).read_text() + "video_9999\n"),
          ["video_9999"], "either")


@case("ids", "jaad", "zip-slip member names (../ and absolute) beside the annotations")
def _(c):
    z = zip_dir(SUBSET, c.p("jaad.zip"), extra={"JAAD-master/../../../zipslip_escaped.txt": b"x", "/zipslip_escaped_abs.txt": b"x",
                                                 "JAAD-master/annotations/../../../../escaped_member.xml": b"<annotations/>"})
    c.run(jaad_cmd(z), "either", ["jaad.zip"], writes=["out"], escape=["escaped"])


@case("ids", "jaad", "zip with a backslash-escaping annotation file name")
def _(c):
    z = zip_dir(SUBSET, c.p("jaad.zip"), extra={"JAAD-master/annotations/..\\..\\escaped_bs.xml": A(SUBSET).read_bytes()})
    c.run(jaad_cmd(z), "either", ["escaped_bs"], writes=["out"], escape=["escaped"])


def dataset(c: Case, name: str = "d") -> Path: return link_tree(c.trial.fix / "synth", c.p(name))
def train_cmd(data="d", *extra): return ["train", "--preset", "debug", "--crop-size", "32", "--data", data, "--runs", "runs", *extra]


def labels_edit(c: Case, fn):
    d = dataset(c); df = (d / "labels.csv").read_text().splitlines(); fn(d, df)
    return d


def seq_rename(d: Path, old: str, new: str):
    "Rename a sequence in labels.csv (and its folder, where the new name is a plain name)."
    sub(d / "labels.csv", old + ",", new + ",", 1)


for _n, _new in (("sequence id ../ in labels.csv", "../../../escaped_seq"), ("absolute sequence id in labels.csv", "/tmp/escaped_seq_abs"),
                 ("sequence id '..' in labels.csv", ".."), ("sequence id with a backslash in labels.csv", "..\\escaped_seq")):
    def _f(c, _new=_new):
        d = dataset(c); first = (d / "labels.csv").read_text().splitlines()[1].split(",")[0]
        seq_rename(d, first, _new)
        c.run(train_cmd(), "refuse", ["labels.csv"], writes=["runs"], keep=["runs"], escape=["escaped"])
    case("ids", "data", _n)(_f)


@case("ids", "data", "class name ../ in dataset.json")
def _(c):
    d = dataset(c); put(d / "dataset.json", json.dumps({"format": "pedsense clips", "class_names": ["../escaped_a", "crossing"]}))
    c.run(train_cmd(), "refuse", ["dataset.json"], writes=["runs"], keep=["runs"], escape=["escaped"])


@case("ids", "runs", "run name ../ (train -n)")
def _(c):
    c.run(train_cmd(c.trial.fix / "synth", "-n", "../../escaped_run"), "refuse", ["escaped_run"], writes=["runs"], keep=["runs"], escape=["escaped"])


@case("ids", "runs", "run name with a slash (train -n a/b)")
def _(c):
    c.run(train_cmd(c.trial.fix / "synth", "-n", "a/b"), "refuse", ["a/b"], writes=["runs"], keep=["runs"])


# --- XML: entity bombs, external entities, malformed files, odd files in every annotation folder ---
for _folder, _path, _root in (("annotations", A, "annotations"), ("annotations_attributes", ATT, "ped_attributes"),
                              ("annotations_vehicle", VEH, "vehicle_info")):
    _name = _path(Path(".")).name
    jaad_case("xml", f"billion laughs in {_folder}/", lambda j, p=_path, r=_root: put(p(j), laughs(r)), [_name], timeout=60)
    jaad_case("xml", f"external entity (file://) in {_folder}/", lambda j, p=_path, r=_root: put(p(j), xxe(r)), [_name])
    jaad_case("xml", f"truncated XML in {_folder}/", lambda j, p=_path: put(p(j), p(j).read_bytes()[: len(p(j).read_bytes()) // 2]), [_name])
    jaad_case("xml", f"empty file in {_folder}/", lambda j, p=_path: put(p(j), b""), [_name])
    jaad_case("xml", f"latin-1 bytes in UTF-8 XML in {_folder}/", lambda j, p=_path: put(p(j), p(j).read_bytes().replace(b'="', b'="\xe9', 1)), [_name])
jaad_case("xml", "wrong root element in annotations/", lambda j: put(A(j), "<foo><bar/></foo>"), ["video_0001.xml"])
jaad_case("xml", "200000 nested elements in annotations_vehicle/",
          lambda j: put(VEH(j), "<vehicle_info>" + "<a>" * 200000 + "</a>" * 200000 + "</vehicle_info>"), ["video_0001_vehicle.xml"], "either")
jaad_case("xml", "DOCTYPE without entities in annotations/", lambda j: put(A(j), "<!DOCTYPE annotations>\n" + A(j).read_text()), ["video_0001.xml"], "either")
jaad_case("xml", "UTF-16 annotations file", lambda j: put(A(j), A(j).read_text().encode("utf-16")), ["video_0001.xml"], "either")
jaad_case("xml", "annotations file is a link to /dev/zero", lambda j: (A(j).unlink(), A(j).symlink_to("/dev/zero")), ["video_0001.xml"],
          mem_mb=600, timeout=90, should="refuse (not a regular file, or too big) with bounded memory")
jaad_case("xml", "annotations file is a named pipe (FIFO)", lambda j: (A(j).unlink(), os.mkfifo(A(j))), ["video_0001.xml"], timeout=20,
          should="refuse: not a regular file (reading it blocks forever)")
jaad_case("xml", "annotations file is a folder", lambda j: (A(j).unlink(), A(j).mkdir()), ["video_0001.xml"])
jaad_case("xml", "annotations file is a link to /etc/passwd", lambda j: (A(j).unlink(), A(j).symlink_to("/etc/passwd")), ["video_0001.xml"])
jaad_case("xml", "annotations file of 1 GiB (sparse) in a folder", lambda j: os.truncate(put(A(j), b"<annotations>"), 1 << 30),
          ["video_0001.xml"], mem_mb=600, timeout=120, should="refuse from the file size, before reading")
jaad_case("xml", "attributes file missing for one video", lambda j: ATT(j).unlink(), ["video_0001_attributes.xml"])
jaad_case("xml", "vehicle file missing for one video", lambda j: VEH(j).unlink(), ["video_0001_vehicle.xml"])
jaad_case("xml", "no annotations_attributes folder", lambda j: shutil.rmtree(j / "annotations_attributes"), ["annotations_attributes"])
jaad_case("xml", "no annotations_vehicle folder", lambda j: shutil.rmtree(j / "annotations_vehicle"), ["annotations_vehicle"])
jaad_case("xml", "no split_ids folder", lambda j: shutil.rmtree(j / "split_ids"), ["split_ids"])
jaad_case("xml", "empty annotations folder", lambda j: [p.unlink() for p in (j / "annotations").glob("*")], ["annotations"])
jaad_case("xml", "an unrelated notes.xml in annotations/", lambda j: put(j / "annotations" / "notes.xml", "<notes/>"), ["notes.xml"], "either")
jaad_case("xml", "annotations file unreadable (mode 000)", lambda j: os.chmod(A(j), 0), ["video_0001.xml"], no_dac=True)


@case("xml", "jaad", "several annotation sets in one folder")
def _(c):
    shutil.copytree(SUBSET, c.p("jaad/JAAD-a")); shutil.copytree(SUBSET, c.p("jaad/JAAD-b"))
    c.run(jaad_cmd(c.p("jaad")), "refuse", ["jaad"], writes=["out"])


# --- archives ---
@case("archive", "jaad", "the subset as a zip (sanity: must work)")
def _(c):
    ref = (c.trial.fix / "samples" / "samples_train.csv").read_text() if (c.trial.fix / "samples").exists() else None
    c.run(jaad_cmd(c.trial.fix / "subset.zip"), "ok", writes=["out"],
          check=lambda: None if ref is None or (c.p("out/samples_train.csv").read_text() == ref) else "samples differ from the folder's")


@case("archive", "jaad", "zip member with a damaged CRC")
def _(c):
    z = shutil.copy(c.trial.fix / "subset.zip", c.p("jaad.zip")); data = bytearray(Path(z).read_bytes())
    with zipfile.ZipFile(z) as zz: info = zz.getinfo("JAAD-master/annotations/video_0001.xml")
    start = info.header_offset + 30 + len(info.filename) + 200; data[start:start + 64] = b"\0" * 64; put(z, bytes(data))
    c.run(jaad_cmd(z), "refuse", ["video_0001.xml"], writes=["out"])


@case("archive", "jaad", "zip truncated to half")
def _(c):
    b = (c.trial.fix / "subset.zip").read_bytes(); z = put(c.p("jaad.zip"), b[: len(b) // 2])
    c.run(jaad_cmd(z), "refuse", ["jaad.zip"], writes=["out"])


@case("archive", "jaad", "1 MB zip with a 1 GiB annotations member (real executable)", exec_=True, needs="files")
def _(c):
    c.run(jaad_cmd(c.trial.fix / "bomb.zip"), "refuse", ["video_0001.xml"], writes=["out"], mem_mb=600, timeout=240)
EXPECTED["1 MB zip with a 1 GiB annotations member (real executable)"] = "refuse from the member's size, memory stays low"


@case("archive", "jaad", "1 GiB member in annotations_vehicle/ of a zip", needs="files")
def _(c):
    with zipfile.ZipFile(c.p("jaad.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(SUBSET.rglob("*")):
            rel = f"JAAD-master/{p.relative_to(SUBSET)}"
            if p.is_file() and not rel.endswith("video_0001_vehicle.xml"): z.write(p, rel)
        with z.open("JAAD-master/annotations_vehicle/video_0001_vehicle.xml", "w", force_zip64=True) as m:
            for _ in range(1024): m.write(b" " * (1 << 20))
    c.run(jaad_cmd(c.p("jaad.zip")), "refuse", ["video_0001_vehicle.xml"], writes=["out"], mem_mb=600, timeout=240)


@case("archive", "jaad", "zip member whose header says 1000 bytes and holds 200 MB", needs="files")
def _(c):
    c.run(jaad_cmd(c.trial.fix / "liar.zip"), "refuse", ["video_0001.xml"], writes=["out"], mem_mb=600, timeout=240)


@case("archive", "jaad", "zip member flagged as encrypted")
def _(c):
    z = shutil.copy(c.trial.fix / "subset.zip", c.p("jaad.zip"))
    patch_zip_member(z, "JAAD-master/annotations/video_0001.xml", flag=1)
    c.run(jaad_cmd(z), "refuse", ["video_0001.xml"], writes=["out"])


@case("archive", "jaad", "zip member with an unknown compression method")
def _(c):
    z = shutil.copy(c.trial.fix / "subset.zip", c.p("jaad.zip"))
    patch_zip_member(z, "JAAD-master/annotations/video_0001.xml", method=99)
    c.run(jaad_cmd(z), "refuse", ["video_0001.xml"], writes=["out"])


@case("archive", "jaad", "zip holding two annotation sets")
def _(c):
    with zipfile.ZipFile(c.p("jaad.zip"), "w") as z:
        for prefix in ("a/JAAD", "b/JAAD"):
            for p in sorted(SUBSET.rglob("*")):
                if p.is_file(): z.write(p, f"{prefix}/{p.relative_to(SUBSET)}")
    c.run(jaad_cmd(c.p("jaad.zip")), "refuse", ["jaad.zip"], writes=["out"])


@case("archive", "jaad", "zip with a duplicated member name")
def _(c):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zip_dir(SUBSET, c.p("jaad.zip"), extra={"JAAD-master/annotations/video_0001.xml": b"<annotations/>"})
    c.run(jaad_cmd(z), "either", ["video_0001.xml"], writes=["out"])


@case("archive", "jaad", "zip with a symlink member for an annotation file")
def _(c):
    with zipfile.ZipFile(c.p("jaad.zip"), "w") as z:
        for p in sorted(SUBSET.rglob("*")):
            rel = f"JAAD-master/{p.relative_to(SUBSET)}"
            if p.is_file() and not rel.endswith("annotations/video_0001.xml"): z.write(p, rel)
        info = zipfile.ZipInfo("JAAD-master/annotations/video_0001.xml"); info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    c.run(jaad_cmd(c.p("jaad.zip")), "refuse", ["video_0001.xml"], writes=["out"])


@case("archive", "jaad", "a text file named .zip")
def _(c): c.run(jaad_cmd(put(c.p("jaad.zip"), "not a zip")), "refuse", ["jaad.zip"], writes=["out"])


@case("archive", "jaad", "an empty zip")
def _(c):
    zipfile.ZipFile(c.p("jaad.zip"), "w").close()
    c.run(jaad_cmd(c.p("jaad.zip")), "refuse", ["jaad.zip"], writes=["out"])


@case("archive", "jaad", "--jaad does not exist")
def _(c): c.run(jaad_cmd(c.p("nope.zip")), "refuse", ["nope.zip"], writes=["out"])


@case("archive", "jaad", "--jaad a folder without annotations/")
def _(c):
    c.p("jaad").mkdir(); put(c.p("jaad/readme.txt"), "hi")
    c.run(jaad_cmd(c.p("jaad")), "refuse", ["jaad"], writes=["out"])


# --- impossible values in annotations ---
def first_box(j, attr: str, value: str):
    "Set `attr` of the first box of video_0001's first track."
    text = A(j).read_text(); i = text.index("<box "); k = text.index(">", i)
    box = re.sub(rf'{attr}="[^"]*"', f'{attr}="{value}"', text[i:k])
    put(A(j), text[:i] + box + text[k:])


for _attr, _value, _what in (("xtl", "inf", "infinite corner"), ("xtl", "nan", "NaN corner"), ("ybr", "-inf", "-inf corner"),
                             ("xbr", "465.0", "zero-width box"), ("xbr", "400.0", "negative-width box"), ("ybr", "1e300", "1e300 corner"),
                             ("frame", "abc", "non-number frame index"), ("frame", "-5", "negative frame index"),
                             ("frame", "99999", "frame index past the video's end"), ("frame", "1.5", "fractional frame index")):
    jaad_case("values", f"{_what} in annotations/", lambda j, a=_attr, v=_value: first_box(j, a, v), ["video_0001.xml"],
              should="refuse naming the file, the pedestrian and the frame")
jaad_case("values", "box entirely outside the image", lambda j: (first_box(j, "xtl", "5000"), first_box(j, "xbr", "5100")), ["video_0001.xml"])
jaad_case("values", "annotations_vehicle/ file with no frames", lambda j: put(VEH(j), "<vehicle_info></vehicle_info>"), ["video_0001_vehicle.xml"],
          should="refuse: the ego actions of the video's 600 frames are missing (else ego features are silently zero)")
jaad_case("values", "annotations_vehicle/ file missing its last 300 frames",
          lambda j: sub_re(VEH(j), r'<frame action="[a-z_]+" id="(3\d\d|4\d\d|5\d\d)" />', ""), ["video_0001_vehicle.xml"])
jaad_case("values", "a box without id", lambda j: sub(A(j), '<attribute name="id">0_1_3b</attribute>', "", 1), ["video_0001.xml"])
jaad_case("values", "the same frame twice in one track", lambda j: sub(A(j), '<box frame="1" keyframe', '<box frame="0" keyframe', 1), ["video_0001"])
jaad_case("values", "one pedestrian id in two videos", lambda j: rename_pid(j, "video_0325", first_id(A(SUBSET, "video_0325")), "0_1_3b"), ["0_1_3b"],
          should="refuse naming the id and both files (not 'cannot reshape' / 'non-unique multi-index')")
jaad_case("values", "a pedestrian listed twice in attributes",
          lambda j: sub_re(ATT(j), r"(<pedestrian [^>]*/>)", lambda m: m.group(1) * 2, 1), ["video_0001"])
jaad_case("values", "two tracks of one pedestrian id",
          lambda j: sub_re(A(j), r'(<track label="pedestrian">.*?</track>)', lambda m: m.group(1) * 2, 1), ["video_0001"])
jaad_case("values", "frame count 0", lambda j: sub(A(j), "<size>600</size>", "<size>0</size>"), ["video_0001.xml"])
jaad_case("values", "frame count not a number", lambda j: sub(A(j), "<size>600</size>", "<size>many</size>"), ["video_0001.xml"])
jaad_case("values", "image width 0", lambda j: sub(A(j), "<width>1920</width>", "<width>0</width>"), ["video_0001.xml"])
jaad_case("values", "unknown ego action in annotations_vehicle/", lambda j: sub(VEH(j), 'action="moving_slow" id="0"', 'action="flying" id="0"'),
          ["video_0001_vehicle.xml"])
jaad_case("values", "non-number frame id in annotations_vehicle/", lambda j: sub(VEH(j), 'action="moving_slow" id="0"', 'action="moving_slow" id="x"'),
          ["video_0001_vehicle.xml"])
jaad_case("values", "crossing='maybe' in attributes", lambda j: sub(ATT(j), 'crossing="-1"', 'crossing="maybe"', 1), ["video_0001_attributes.xml"])
jaad_case("values", "decision_point='soon' in attributes", lambda j: sub(ATT(j), 'decision_point="26"', 'decision_point="soon"'),
          ["video_0001_attributes.xml"], "either")
jaad_case("values", "split list not UTF-8", lambda j: put(SPLIT(j), b"video_0001\n\xff\xfe\x00video_0325\n"), ["train.txt"])
jaad_case("values", "split list with CRLF line ends and blank lines (must work)",
          lambda j: put(SPLIT(j), "\r\n".join(SPLIT(j).read_text().split()) + "\r\n\r\n"), [], "ok")
jaad_case("values", "empty train split list", lambda j: put(SPLIT(j), ""), ["train"], "either")


# --- cropping clips: --skip-missing, broken and short videos ---
def clips_copy(c: Case, only=None) -> Path:
    d = c.p("clips"); d.mkdir()
    for v in sorted((c.trial.fix / "clips").glob("*.mp4")):
        if only is None or v.stem in only: os.link(v, d / v.name)
    return d


def crops_cmd(c: Case, clips, *extra, jaad=None):
    return jaad_cmd(jaad or c.trial.fix / "small_jaad", "--clips", clips, "--frame-size", "32", *extra)


@case("skip", "crops", "crops of small test clips (sanity: must work)", needs="clips")
def _(c):
    def check():
        labels = c.p("out/labels.csv").read_text().splitlines()
        seqs = list(c.p("out/sequences").glob("*/*"))
        return None if len(labels) - 1 == len(seqs) > 0 else f"labels.csv lists {len(labels) - 1} sequences, {len(seqs)} folders"
    c.run(crops_cmd(c, clips_copy(c)), "ok", writes=["out"], check=check, timeout=300)


@case("skip", "crops", "--skip-missing with only the train clips (val empty)", needs="clips")
def _(c): c.run(crops_cmd(c, clips_copy(c, {"video_0001", "video_0325"}), "--skip-missing"), "refuse", ["val"], writes=["out"], timeout=300)
EXPECTED["--skip-missing with only the train clips (val empty)"] = "refuse: the val split would be empty"


@case("skip", "crops", "--skip-missing with an empty clips folder", needs="clips")
def _(c): c.run(crops_cmd(c, clips_copy(c, set()), "--skip-missing"), "refuse", ["clips"], writes=["out"])


@case("skip", "crops", "a clip too short for its annotations", needs="clips")
def _(c):
    d = clips_copy(c); (d / "video_0001.mp4").unlink(); os.link(c.trial.fix / "short.mp4", d / "video_0001.mp4")
    c.run(crops_cmd(c, d), "refuse", ["video_0001.mp4"], writes=["out"], timeout=300)


@case("skip", "crops", "a clip that is not a video", needs="clips")
def _(c):
    d = clips_copy(c); put(d / "video_0001.mp4", "this is not a video\n" * 100)
    c.run(crops_cmd(c, d), "refuse", ["video_0001.mp4"], writes=["out"], timeout=300)


@case("skip", "crops", "a clip of 0 bytes", needs="clips")
def _(c):
    d = clips_copy(c); put(d / "video_0001.mp4", b"")
    c.run(crops_cmd(c, d), "refuse", ["video_0001.mp4"], writes=["out"], timeout=300)


@case("skip", "crops", "a clip smaller than its annotations' boxes", needs="clips")
def _(c): c.run(crops_cmd(c, clips_copy(c), jaad=SUBSET), "refuse", ["video_0"], writes=["out"], timeout=300)
EXPECTED["a clip smaller than its annotations' boxes"] = "refuse naming the clip (its size differs from the annotations'), not a ValueError traceback"


@case("skip", "crops", "--clips is a file", needs="clips")
def _(c): c.run(crops_cmd(c, put(c.p("clips"), "x")), "refuse", ["clips"], writes=["out"])


@case("skip", "crops", "--clips does not exist", needs="clips")
def _(c): c.run(crops_cmd(c, c.p("noclips")), "refuse", ["noclips"], writes=["out"])


# --- frames ---
def seq_copy(c: Case) -> Path:
    src = sorted((c.trial.fix / "synth" / "sequences" / "test").iterdir())[0]
    return link_tree(src, c.p("seq"))


def predict_cmd(c: Case, *inputs, run=None): return ["predict", run or c.trial.have["run"], *inputs]


def frame_case(name: str, make, expect: str = "refuse", words=("frame_00.jpg",), *, mem_mb=None, timeout=120, should=None):
    def fn(c: Case):
        s = seq_copy(c); make(c, s / "frame_00.jpg")
        c.run(predict_cmd(c, s), expect, list(words), mem_mb=mem_mb, timeout=timeout)
    case("images", "data", name, needs="run files")(fn)
    if should: EXPECTED[name] = should


def pil_frame(mode: str, fmt: str = "JPEG", size=(32, 32)):
    def make(c, path):
        from PIL import Image
        buf = io.BytesIO(); Image.new(mode, size, 90 if mode in ("L", "P", "1") else None).save(buf, fmt); put(path, buf.getvalue())
    return make


frame_case("a 12000x12000 PNG frame (140 KB)", lambda c, p: put(p, (c.trial.fix / "huge.png").read_bytes()), mem_mb=300,
           should="refuse from the header before decoding; memory stays low")
frame_case("a 16-bit frame", lambda c, p: put(p, (c.trial.fix / "deep16.png").read_bytes()), should="refuse (it would turn white), naming the frame")
frame_case("a frame that is text", lambda c, p: put(p, "hello"))
frame_case("a frame of 0 bytes", lambda c, p: put(p, b""))
frame_case("a truncated JPEG frame", lambda c, p: put(p, p.read_bytes()[:200]), "either")
frame_case("a frame of another size", pil_frame("RGB", size=(40, 40)), words=("seq",))
frame_case("a CMYK JPEG frame (must work)", pil_frame("CMYK"), "ok")
frame_case("a grey JPEG frame (must work)", pil_frame("L"), "ok")
frame_case("an RGBA PNG named .jpg (must work)", pil_frame("RGBA", "PNG"), "ok")
frame_case("a palette PNG named .jpg (must work)", pil_frame("P", "PNG"), "ok")
frame_case("a 1-bit frame", pil_frame("1", "PNG"), "either")
frame_case("a frame that is a folder", lambda c, p: (p.unlink(), p.mkdir()))
frame_case("a frame that links to /dev/zero", lambda c, p: (p.unlink(), p.symlink_to("/dev/zero")), timeout=60)
frame_case("a frame that is a named pipe", lambda c, p: (p.unlink(), os.mkfifo(p)), timeout=20, should="refuse: not a regular file (blocks forever)")
frame_case("a gap in the frame numbers", lambda c, p: (p.parent / "frame_01.jpg").unlink(), words=("frame_01.jpg",))


@case("images", "data", "an empty sequence folder", needs="run")
def _(c): c.p("seq").mkdir(); c.run(predict_cmd(c, c.p("seq")), "refuse", ["seq"])


@case("images", "data", "predict input that does not exist", needs="run")
def _(c): c.run(predict_cmd(c, c.p("nope")), "refuse", ["nope"])


@case("images", "data", "a 12000x12000 frame in a training set", needs="synth files")
def _(c):
    d = dataset(c); f = sorted((d / "sequences" / "train").iterdir())[0] / "frame_03.jpg"; put(f, (c.trial.fix / "huge.png").read_bytes())
    c.run(train_cmd(), "refuse", ["frame_03.jpg"], writes=["runs"], keep=["runs"], mem_mb=400)


@case("images", "data", "a frame unreadable (mode 000)", needs="run")
def _(c):
    s = seq_copy(c); put(s / "frame_00.jpg", (s / "frame_01.jpg").read_bytes()); os.chmod(s / "frame_00.jpg", 0)
    c.run(predict_cmd(c, s), "refuse", ["frame_00.jpg"], no_dac=True)


# --- datasets (labels.csv, dataset.json, sequences/) ---
def data_case(name: str, edit, words=("labels.csv",), expect="refuse", cmd=None, should=None):
    def fn(c: Case):
        d = dataset(c); edit(d)
        c.run(cmd(c) if cmd else train_cmd(), expect, list(words), writes=["runs"], keep=["runs"])
    case("datasets", "data", name, needs="synth")(fn)
    if should: EXPECTED[name] = should


def csv_edit(fn):
    def edit(d):
        lines = (d / "labels.csv").read_text().splitlines(); put(d / "labels.csv", "\n".join(fn(lines)) + "\n")
    return edit


data_case("labels.csv without the label column", csv_edit(lambda L: [",".join(x.split(",")[:1] + x.split(",")[2:]) for x in L]))
data_case("labels.csv not UTF-8", lambda d: put(d / "labels.csv", (d / "labels.csv").read_bytes().replace(b"crossing", b"cr\xffssing", 1)))
data_case("labels.csv with an unknown label", csv_edit(lambda L: [L[0], L[1].replace("crossing", "flying", 1)] + L[2:]))
data_case("labels.csv listing one sequence twice", csv_edit(lambda L: L + [L[1]]))
data_case("labels.csv listing a sequence with no folder", csv_edit(lambda L: L + ["ghost" + L[1][L[1].index(","):]]), words=("ghost",))
data_case("a sequence folder not in labels.csv", lambda d: link_tree(sorted((d / "sequences/train").iterdir())[0], d / "sequences/train/stray"),
          words=("stray",))
data_case("a sequence in two splits", lambda d: link_tree(sorted((d / "sequences/train").iterdir())[0],
                                                          d / "sequences/val" / sorted((d / "sequences/train").iterdir())[0].name), words=("sequence",))
data_case("labels.csv of binary garbage", lambda d: put(d / "labels.csv", os.urandom(3000)))
data_case("labels.csv of 0 bytes", lambda d: put(d / "labels.csv", b""))
data_case("labels.csv is a folder", lambda d: ((d / "labels.csv").unlink(), (d / "labels.csv").mkdir()))
data_case("dataset.json not JSON", lambda d: put(d / "dataset.json", "{class_names: oops"), words=("dataset.json",))
data_case("dataset.json with one class", lambda d: put(d / "dataset.json", '{"class_names": ["only"]}'), words=("dataset.json",))
data_case("no validation clips", lambda d: (shutil.rmtree(d / "sequences/val"),
                                            csv_edit(lambda L: [L[0]] + [x for x in L[1:] if "_val_" not in x])(d)), words=("val",))


@case("datasets", "data", "--data is a file")
def _(c): c.run(train_cmd(put(c.p("d"), "x")), "refuse", ["d"], writes=["runs"], keep=["runs"])


@case("datasets", "data", "--data does not exist")
def _(c): c.run(train_cmd(c.p("nodata")), "refuse", ["nodata"], writes=["runs"], keep=["runs"])


# --- samples folders (box-rnn) ---
def samples_case(name: str, edit, words, expect="refuse", split="train", should=None):
    def fn(c: Case):
        s = link_tree(c.trial.fix / "samples", c.p("s")); edit(c, s)
        c.run(["train", "-m", "box-rnn", "-e", "1", "-b", "16", "--data", "s", "--runs", "runs"], expect, list(words),
              writes=["runs"], keep=["runs"])
        marker = c.p("ran_code")
        if marker.exists(): c.note("silent", "loading the samples ran code (the marker file was made)")
    case("samples", "jaad", name, needs="samples")(fn)
    if should: EXPECTED[name] = should


def npz_edit(split="train", **changes):
    def edit(c, s):
        import numpy as np
        with np.load(s / f"features_{split}.npz") as z: f = {k: z[k] for k in z.files}
        for k, v in changes.items():
            if v is None: f.pop(k)
            else: f[k] = v(f[k]) if callable(v) else v
        (s / f"features_{split}.npz").unlink(); np.savez(s / f"features_{split}.npz", **f)
    return edit


samples_case("features boxes of the wrong shape", npz_edit(boxes=lambda b: b[:, :8]), ["features_train.npz"])
samples_case("features without the boxes array", npz_edit(boxes=None), ["features_train.npz"])
samples_case("NaN in the features", npz_edit(boxes=lambda b: b * float("nan")), ["features_train.npz"],
             should="refuse naming the file (not fastai's 'Exception occured in Recorder')")
samples_case("label 2 in the features", npz_edit(label=lambda l: l * 0 + 2), ["features_train.npz"])
samples_case("features file of garbage bytes", lambda c, s: put(s / "features_train.npz", os.urandom(5000)), ["features_train.npz"])
samples_case("features holding a code-running pickle", lambda c, s: torch_file("evil_npz", s / "features_train.npz", marker=c.p("ran_code")),
             ["features_train.npz"], should="refuse without unpickling (no code run)")
samples_case("samples_train.csv without its columns", lambda c, s: put(s / "samples_train.csv", "a,b\n1,2\n"), ["samples_train.csv"])
samples_case("samples_train.csv with fewer rows than the features",
             lambda c, s: put(s / "samples_train.csv", "\n".join((s / "samples_train.csv").read_text().splitlines()[:-3]) + "\n"), ["samples_train.csv"])
samples_case("samples.json of garbage", lambda c, s: put(s / "samples.json", "{{{"), ["samples.json"], "either")
samples_case("features_val.npz missing", lambda c, s: (s / "features_val.npz").unlink(), ["features_val.npz"])


@case("samples", "learner", "box-rnn on a clip dataset", needs="synth")
def _(c):
    c.run(["train", "-m", "box-rnn", "-e", "1", "--data", c.trial.fix / "synth", "--runs", "runs"], "refuse", ["synth"], writes=["runs"], keep=["runs"])


@case("samples", "learner", "resnet-lstm on a samples folder", needs="samples")
def _(c): c.run(train_cmd(c.trial.fix / "samples"), "refuse", ["samples"], writes=["runs"], keep=["runs"])


@case("samples", "evaluate", "predict with a box-rnn run on a clip folder", needs="boxrun synth")
def _(c):
    s = seq_copy(c); c.run(predict_cmd(c, s, run=c.trial.have["boxrun"]), "refuse", ["seq"])


@case("samples", "evaluate", "predict with a clip run on a samples folder", needs="run samples")
def _(c): c.run(predict_cmd(c, c.trial.fix / "samples"), "refuse", ["samples"])


@case("samples", "evaluate", "predict with a box-rnn run on its samples (must work)", needs="boxrun")
def _(c):
    p = c.run(predict_cmd(c, c.trial.fix / "samples", "--split", "test", run=c.trial.have["boxrun"]), "ok",
              check=lambda: None if len(p_out(c)) > 2 else "no rows printed")


def p_out(c: Case) -> list[str]:
    outs = sorted(c.dir.glob("out_*.txt"), key=lambda p: p.stat().st_mtime)
    return outs[-1].read_text().splitlines() if outs else []


@case("samples", "evaluate", "evaluate a box-rnn run on a samples folder without features_test", needs="boxrun")
def _(c):
    s = link_tree(c.trial.fix / "samples", c.p("s")); (s / "features_test.npz").unlink(); r = link_tree(c.trial.have["boxrun"], c.p("run"))
    c.run(["evaluate", r, "--data", s], "refuse", ["features_test.npz"], writes=["run"])


# --- config.json of a run folder ---
def run_copy(c: Case, name: str = "run", which: str = "run") -> Path: return link_tree(c.trial.have[which], c.p(name))


def config_case(name: str, change, words=("config.json",), expect="refuse", which="run", should=None):
    def fn(c: Case):
        r = run_copy(c, which=which); cfg = json.loads((r / "config.json").read_text())
        text = change(cfg)
        put(r / "config.json", text if isinstance(text, str) else json.dumps(cfg, indent=1))
        c.run(["evaluate", r], expect, list(words), writes=["run"])
    case("config", "config", name, needs=which)(fn)
    if should: EXPECTED[name] = should


def setk(**kv):
    def change(cfg): cfg.update(kv)
    return change


config_case("sequence_length 0 in config.json", setk(sequence_length=0), should="refuse naming config.json and sequence_length")
config_case("crop_size 0 in config.json", setk(crop_size=0))
config_case("sequence_length '16' (a string) in config.json", setk(sequence_length="16"))
config_case("batch_size -1 in config.json", setk(batch_size=-1))
config_case("an unknown key in config.json", setk(colour="blue"))
config_case("an unknown model_type in config.json", setk(model_type="transformer-xl"))
config_case("threshold 5 in config.json", setk(threshold=5))
config_case("dropout 2 in config.json", setk(dropout=2))
config_case("epochs NaN in config.json", lambda cfg: json.dumps({**cfg, "epochs": float("nan")}))
config_case("crop_size 100000 in config.json", setk(crop_size=100000), expect="either")
config_case("three class names for two outputs in config.json", setk(class_names=["a", "b", "c"]))
config_case("config.json not JSON", lambda cfg: "{oops")
config_case("config.json a list", lambda cfg: "[1, 2]")
config_case("config.json with an old key (seq_len, before sequence_length)", lambda cfg: json.dumps({**{k: v for k, v in cfg.items() if k != "sequence_length"},
                                                                             "seq_len": cfg["sequence_length"]}), expect="either")
config_case("data path that does not exist in config.json", setk(data="/nonexistent/dataset"), words=("/nonexistent/dataset",))
config_case("features 'offsets,foo' in a box run's config.json", setk(features="offsets,foo"), which="boxrun")


@case("config", "config", "config.json missing", needs="run")
def _(c):
    r = run_copy(c); (r / "config.json").unlink(); c.run(["evaluate", r], "refuse", ["config.json"], writes=["run"])


@case("config", "config", "a relative data path in config.json, evaluated from another folder", needs="run synth")
def _(c):
    link_tree(c.trial.fix / "synth", c.p("A/d")); r = run_copy(c, "A/runs/r")
    cfg = json.loads((r / "config.json").read_text()); cfg["data"] = "d"; put(r / "config.json", json.dumps(cfg, indent=1))
    c.p("B").mkdir()
    c.run(["synth", "--out", "d", "--n-train", "2", "--n-val", "2", "--n-test", "6", "--frame-size", "32"], "ok", cwd=c.p("B"), writes=["B/d"])
    def check():
        res = json.loads((r / "final_results.json").read_text())
        return None if res.get("n") == 4 else f"evaluated {res.get('n')} clips: the dataset 'd' of the working folder, not the run's"
    c.run(["evaluate", r], "either", ["config.json"], cwd=c.p("B"), writes=["A/runs/r"], check=check)
EXPECTED["a relative data path in config.json, evaluated from another folder"] = "resolve it against the run folder (or refuse), never the working folder"


# --- checkpoints and caches ---
def ckpt_case(name: str, make, words=("best.pt",), *, cmd="evaluate", expect="refuse", should=None):
    def fn(c: Case):
        r = run_copy(c); make(c, r)
        argv = ["evaluate", r] if cmd == "evaluate" else ["train", "--resume", r] if cmd == "resume" else ["predict", r, seq_copy(c)]
        c.run(argv, expect, list(words), writes=["run"] if cmd == "evaluate" and expect != "refuse" else [], timeout=240)
        if c.p("ran_code").exists(): c.note("silent", "loading the checkpoint ran code (the marker file was made)")
    case("checkpoints", "core", name, needs="run synth")(fn)
    if should: EXPECTED[name] = should


ckpt_case("best.pt that runs code when unpickled", lambda c, r: torch_file("evil", r / "best.pt", marker=c.p("ran_code")),
          should="refuse without running code, naming best.pt")
ckpt_case("best.pt a plain pickle that runs code", lambda c, r: put(r / "best.pt", __import__("pickle").dumps(Evil(c.p("ran_code")))))
ckpt_case("train_state.pt that runs code (resume)", lambda c, r: torch_file("evil_state", r / "train_state.pt", marker=c.p("ran_code")),
          ("train_state.pt",), cmd="resume")
ckpt_case("best.pt truncated", lambda c, r: put(r / "best.pt", (r / "best.pt").read_bytes()[:100]))
ckpt_case("best.pt of 0 bytes", lambda c, r: put(r / "best.pt", b""))
ckpt_case("best.pt a zip that is not a checkpoint", lambda c, r: put(r / "best.pt", (c.trial.fix / "subset.zip").read_bytes()))
ckpt_case("best.pt a torch file of other keys", lambda c, r: torch_file("dict", r / "best.pt"))
ckpt_case("best.pt with NaN weights", lambda c, r: torch_file("weights", r / "best.pt", src=str(c.trial.have["run"] / "best.pt"), value=float("nan")),
          ("best.pt",), cmd="predict", should="refuse: the model's output is not a number")
ckpt_case("best.pt with infinite weights", lambda c, r: torch_file("weights", r / "best.pt", src=str(c.trial.have["run"] / "best.pt"), value=float("inf")),
          ("best.pt",), cmd="predict")
ckpt_case("best.pt of another model (box-rnn weights)", lambda c, r: put(r / "best.pt", (c.trial.have["boxrun"] / "best.pt").read_bytes()))
ckpt_case("best.pt missing", lambda c, r: (r / "best.pt").unlink())
ckpt_case("best.pt is a folder", lambda c, r: ((r / "best.pt").unlink(), (r / "best.pt").mkdir()))
ckpt_case("best.pt links to /dev/zero", lambda c, r: ((r / "best.pt").unlink(), (r / "best.pt").symlink_to("/dev/zero")))
ckpt_case("train_state.pt truncated (resume)", lambda c, r: put(r / "train_state.pt", (r / "train_state.pt").read_bytes()[:1000]),
          ("train_state.pt",), cmd="resume")
ckpt_case("train_state.pt of other keys (resume)", lambda c, r: torch_file("dict", r / "train_state.pt"), ("train_state.pt",), cmd="resume")


@case("checkpoints", "evaluate", "--checkpoint outside the run folder (../)", needs="run")
def _(c):
    r = run_copy(c); os.link(r / "best.pt", c.p("other.pt"))
    c.run(["evaluate", r, "--checkpoint", "../other.pt"], "either", ["other.pt"], writes=["run"])


@case("checkpoints", "evaluate", "--checkpoint that does not exist", needs="run")
def _(c): r = run_copy(c); c.run(["evaluate", r, "--checkpoint", "nope.pt"], "refuse", ["nope.pt"])


def cache_train(c: Case, *extra): return train_cmd("d", "--cache-features", "--no-augment", "-n", "cached", *extra)


@case("checkpoints", "learner", "feature cache replaced by a code-running pickle", needs="synth")
def _(c):
    dataset(c)
    c.run(cache_train(c), "ok", writes=["runs", "d/.cache"], check=lambda: None if list(c.p("d/.cache").glob("*.pt")) else "no cache written")
    for f in c.p("d/.cache").glob("*.pt"): torch_file("evil", f, marker=c.p("ran_code"))
    c.run(cache_train(c), "either", [".cache"], writes=["runs", "d/.cache"])
    if c.p("ran_code").exists(): c.note("silent", "the feature cache ran code (the marker file was made)")
EXPECTED["feature cache replaced by a code-running pickle"] = "never unpickle code: rebuild the cache or refuse naming it"


@case("checkpoints", "learner", "feature cache truncated", needs="synth")
def _(c):
    dataset(c)
    c.run(cache_train(c), "ok", writes=["runs", "d/.cache"])
    for f in c.p("d/.cache").glob("*.pt"): put(f, f.read_bytes()[:500])
    c.run(cache_train(c), "either", [".cache"], writes=["runs", "d/.cache"])


# --- run folders: resume, locks, results ---
def runs_case(name, should=None, needs="run"):
    def add(fn):
        case("runs", "runs", name, needs=needs)(fn)
        if should: EXPECTED[name] = should
        return fn
    return add


@runs_case("resume a finished run whose train_state.pt was deleted", should="refuse; best.pt, last.pt, metrics.csv, final_results.json kept")
def _(c):
    r = run_copy(c); (r / "train_state.pt").unlink()
    c.run(["train", "--resume", r], "refuse", ["train_state.pt"])
    for f in ("best.pt", "last.pt", "metrics.csv", "final_results.json"):
        if not (r / f).exists(): c.note("silent", f"{f} was deleted")


@runs_case("two train --resume of one run folder at once", should="one trains, the other is refused at once by the lock; nothing lost")
def _(c):
    r = run_copy(c); before = snapshot(c.dir)
    p1 = c.start(["train", "--resume", r, "--epochs", "3"], tag="a"); p2 = c.start(["train", "--resume", r, "--epochs", "3"], tag="b")
    c.wait(p1, 300); c.wait(p2, 300)
    ok, bad = [p for p in (p1, p2) if p.rc == 0], [p for p in (p1, p2) if p.rc != 0]
    if len(ok) == 2: c.note("silent", "both resumes exited 0 (no lock)", p2)
    elif not ok: c.judge(p1, "ok")
    else:
        c.judge(bad[0], "refuse", ["another process"])
        rows = len((r / "metrics.csv").read_text().splitlines()) - 1
        if rows != 3: c.note("silent", f"metrics.csv has {rows} epochs after a resume to 3", ok[0])
    c.judge_fs(before, None, writes=["run"], failed=False)


@runs_case("resume an empty folder")
def _(c): c.p("empty_run").mkdir(); c.run(["train", "--resume", c.p("empty_run")], "refuse", ["empty_run"])


@runs_case("resume a folder that does not exist")
def _(c): c.run(["train", "--resume", c.p("no_run")], "refuse", ["no_run"])


@runs_case("resume with a setting flag (--lr)")
def _(c): r = run_copy(c); c.run(["train", "--resume", r, "--lr", "0.1"], "refuse", ["--resume"])


@runs_case("resume a finished run (nothing to do)", should="exit 0 or refuse; best.pt, metrics.csv, final_results.json unchanged")
def _(c):
    r = run_copy(c)
    c.run(["train", "--resume", r], "either", ["run"], writes=["run/config.json", "run/last.pt", "run/train_state.pt", "run/.lock"])


@runs_case("resume to 2 epochs (must work)")
def _(c):
    r = run_copy(c)
    c.run(["train", "--resume", r, "--epochs", "2"], "ok", writes=["run"], timeout=300,
          check=lambda: None if len((r / "metrics.csv").read_text().splitlines()) == 3 else "metrics.csv does not hold 2 epochs")


@runs_case("resume with a stale .lock file left by a killed run (must work)")
def _(c):
    r = run_copy(c); put(r / ".lock", "")
    c.run(["train", "--resume", r, "--epochs", "2"], "ok", writes=["run"], timeout=300)


@runs_case("two trains with one name at once (must both work)", needs="synth")
def _(c):
    before = snapshot(c.dir)
    ps = [c.start(train_cmd(c.trial.fix / "synth", "-n", "same"), tag=str(i)) for i in range(2)]
    for p in ps: c.wait(p, 300)
    for p in ps: c.judge(p, "ok")
    n = len(list(c.p("runs").glob("same_*")))
    if n != 2: c.note("silent", f"{n} run folders for two runs")
    c.judge_fs(before, None, writes=["runs"], failed=False)


@runs_case("evaluate a dataset folder (not a run)", needs="synth")
def _(c): c.run(["evaluate", c.trial.fix / "synth"], "refuse", ["synth"])


@runs_case("evaluate a file")
def _(c): c.run(["evaluate", put(c.p("notes.txt"), "x")], "refuse", ["notes.txt"])


@runs_case("SIGTERM after the first epoch, then resume (must work)", needs="synth")
def _(c):
    before = snapshot(c.dir)
    p = c.start(train_cmd(c.trial.fix / "synth", "-e", "3", "-n", "cut"))
    def one_epoch():
        m = list(c.p("runs").glob("cut_*/metrics.csv"))
        return m and len(m[0].read_text().splitlines()) >= 2 and list(c.p("runs").glob("cut_*/train_state.pt"))
    if not signal_when(c, p, one_epoch, signal.SIGTERM, 300): return
    c.judge(p, "refuse", ["interrupted"])
    r = next(c.p("runs").glob("cut_*"), None)
    if r is None or not (r / "train_state.pt").exists(): return c.note("silent", "the run folder of a finished epoch was removed", p)
    c.judge_fs(before, None, writes=["runs"], failed=False)
    c.run(["train", "--resume", r], "ok", writes=["runs"], timeout=300,
          check=lambda: None if len((r / "metrics.csv").read_text().splitlines()) == 4 else "metrics.csv does not hold 3 epochs")


def signal_when(c: Case, p: Proc, cond, sig, timeout: float) -> bool:
    "Send `sig` to `p` once `cond()` holds; False (and a note) if the command ended first."
    deadline, sent = time.time() + timeout, False
    while time.time() < deadline:
        if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None: break
        try:
            if cond(): c.trial.runner.signal(p, sig); sent = True; break
        except OSError: pass
        time.sleep(0.02)
    c.wait(p, timeout)
    if not sent: c.note("held", "inconclusive: the command ended before the signal could be sent", p)
    return sent


# --- output folders: concurrent writers, --overwrite, --out . ---
def synth_cmd(out="X", *extra, n="8"):
    return ["synth", "--out", out, "--n-train", n, "--n-val", "4", "--n-test", "4", "--frame-size", "32", *extra]


def count_clips(folder: Path) -> int: return len((folder / "labels.csv").read_text().splitlines()) - 1


@case("outputs", "data", "two synth --out X at once", should="one writes X, the other refuses with one line; nothing lost or left")
def _(c):
    before = snapshot(c.dir)
    ps = [c.start(synth_cmd("X", "--seed", str(i), n="120"), tag=str(i)) for i in range(2)]
    for p in ps: c.wait(p, 300)
    ok = [p for p in ps if p.rc == 0]
    if len(ok) == 2: c.note("silent", "both exited 0: one dataset silently replaced the other", ps[1])
    elif not ok: [c.judge(p, "ok") for p in ps]
    else:
        c.judge(next(p for p in ps if p.rc != 0), "refuse", ["X"])
        if count_clips(c.p("X")) != 128: c.note("silent", f"X holds {count_clips(c.p('X'))} clips, not 128")
    c.judge_fs(before, None, writes=["X"], failed=False)


@case("outputs", "data", "synth --overwrite a folder pedsense did not make")
def _(c):
    put(c.p("mine/thesis.tex"), "years of work")
    c.run(synth_cmd("mine", "--overwrite"), "refuse", ["mine"])


@case("outputs", "data", "synth --overwrite a pedsense dataset (must work)")
def _(c):
    c.run(synth_cmd("X"), "ok", writes=["X"])
    c.run(synth_cmd("X", "--overwrite", n="10"), "ok", writes=["X"], check=lambda: None if count_clips(c.p("X")) == 18 else "not replaced")


@case("outputs", "data", "synth --out . in a folder holding files", should="refuse before the work; nothing changed")
def _(c):
    put(c.p("notes.txt"), "mine")
    c.run(synth_cmd(".", n="40"), "refuse", ["."])


@case("outputs", "data", "synth --out . in an empty folder", should="write into the folder itself, not replace it (a shell in it sees nothing)")
def _(c):
    ino = os.stat(c.w).st_ino
    def check():
        if not (c.w / "labels.csv").exists(): return "no dataset written"
        if os.stat(c.w).st_ino != ino: return "replaced the working folder by another: a shell in it now sees an empty, deleted folder"
    c.run(synth_cmd("."), "either", ["."], writes=["."], check=check)


@case("outputs", "data", "synth --out an existing file")
def _(c): put(c.p("X"), "x"); c.run(synth_cmd("X"), "refuse", ["X"])


@case("outputs", "data", "synth --out below a file")
def _(c): put(c.p("f"), "x"); c.run(synth_cmd("f/X"), "refuse", ["f"])


@case("outputs", "data", "synth --out a non-empty folder without --overwrite")
def _(c): put(c.p("X/keep.txt"), "x"); c.run(synth_cmd("X"), "refuse", ["X"])


@case("outputs", "jaad", "preprocess jaad --overwrite a folder pedsense did not make")
def _(c): put(c.p("out/keep.txt"), "x"); c.run(jaad_cmd(SUBSET, "--overwrite"), "refuse", ["out"])


@case("outputs", "jaad", "preprocess jaad --overwrite a clip dataset (another kind of pedsense folder)", needs="synth")
def _(c):
    link_tree(c.trial.fix / "synth", c.p("out"))
    c.run(jaad_cmd(SUBSET, "--overwrite"), "either", ["out"], writes=["out"])


@case("outputs", "performance", "bench --out below a file (real executable)", exec_=True)
def _(c): put(c.p("f"), "x"); c.run(["bench", "--quick", "--out", "f/bench.json"], "refuse", ["f"])


@case("outputs", "runs", "demo --data a folder holding other files", should="refuse with one line that does not advise --overwrite (demo has none)")
def _(c):
    put(c.p("notdata/keep.txt"), "x")
    p = c.run(["demo", "--data", "notdata", "--runs", "runs", "--preset", "debug"], "refuse", ["notdata"], keep=["runs"])
    if "--overwrite" in p.stderr: c.note("one line", "advises --overwrite, which demo does not have", p)


@case("outputs", "benchmark", "benchmark jaad --out holding a user's samples_beh folder")
def _(c):
    put(c.p("bench/samples_beh/mine.txt"), "x")
    c.run(["benchmark", "jaad", "--jaad", SUBSET, "--out", "bench", "--seeds", "1", "--epochs", "1"], "either", ["samples_beh"],
          writes=["bench/runs", "bench/samples_all", "bench/runs.csv", "bench/benchmark.csv"], timeout=400)


@case("outputs", "benchmark", "benchmark jaad --out holding samples made from other annotations",
      should="rebuild the samples from the annotations given (or refuse); never reuse them")
def _(c):
    j = jaad_copy(c); first_box(j, "xtl", "400.0")
    c.run(jaad_cmd(j, out="bench/samples_beh"), "ok", writes=["bench"])
    def check():
        got = json.loads(c.p("bench/samples_beh/samples.json").read_text())
        want = json.loads((c.trial.fix / "samples" / "samples.json").read_text())
        return None if got.get("annotations_sha256") == want.get("annotations_sha256") else "reused samples made from other annotations"
    c.run(["benchmark", "jaad", "--jaad", SUBSET, "--out", "bench", "--seeds", "1", "--epochs", "1"], "ok", writes=["bench"], check=check, timeout=400)


@case("outputs", "learner", "cache clear on a folder that is not a dataset", should="refuse, or remove only caches pedsense made; never others' files")
def _(c):
    put(c.p("other/.cache/features_weights.pt"), "someone else's"); put(c.p("other/.cache/notes.txt"), "x")
    c.run(["cache", "clear", "--data", "other"], "either", ["other"])


@case("outputs", "learner", "cache list on a folder that does not exist")
def _(c): c.run(["cache", "list", "--data", "nodata"], "either", ["nodata"])


# --- signals ---
def tmp_beside(folder: Path, name: str):
    return [p for p in folder.glob(f".{name}.*.tmp")]


def sig_case(name: str, argv_fn, ready, sig=signal.SIGTERM, *, exec_=False, needs=None, keep=(), should=None):
    def fn(c: Case):
        before = snapshot(c.dir)
        p = c.start(argv_fn(c), exec_=exec_)
        if not signal_when(c, p, lambda: ready(c), sig, 300): return
        c.judge(p, "refuse", ["interrupted"])
        c.judge_fs(before, p, keep=keep, failed=True)
    case("signals", "core", name, exec_=exec_, needs=needs)(fn)
    EXPECTED[name] = should or "exit with 'interrupted' and remove what it was writing"


def has_seq(c, name="X"):
    t = tmp_beside(c.w, name)
    return t and (t[0] / "sequences").is_dir() and any((t[0] / "sequences").rglob("frame_00.jpg"))


sig_case("SIGTERM during synth (real executable)", lambda c: synth_cmd("X", n="3000"), has_seq, exec_=True)
sig_case("SIGTERM during synth", lambda c: synth_cmd("X", n="3000"), has_seq)
sig_case("SIGINT during synth", lambda c: synth_cmd("X", n="3000"), has_seq, sig=signal.SIGINT)
sig_case("SIGTERM in the first epoch of train", lambda c: train_cmd(c.trial.fix / "synth", "-n", "cut"),
         lambda c: list(c.p("runs").glob("cut_*/config.json")), needs="synth", keep=["runs"],
         should="remove the run folder (it holds no finished epoch)")
sig_case("SIGTERM during preprocess jaad --clips", lambda c: crops_cmd(c, c.trial.fix / "clips"),
         lambda c: tmp_beside(c.w, "out") and any(tmp_beside(c.w, "out")[0].rglob("frame_00.jpg")), needs="clips")
sig_case("SIGTERM during preprocess jaad (samples)", lambda c: jaad_cmd(SUBSET), lambda c: time.sleep(0.3) or True)


@case("signals", "core", "SIGKILL during synth, then synth again (must work)")
def _(c):
    p = c.start(synth_cmd("X", n="3000"))
    signal_when(c, p, lambda: has_seq(c), signal.SIGKILL, 300)
    c.run(synth_cmd("X"), "ok", writes=["X"])
    left = tmp_beside(c.w, "X")
    if left: c.note("held", f"(a SIGKILL leaves {left[0].name}; the next run neither fails on it nor removes it)")


# --- operating-system errors ---
def ro_dir(c: Case, rel: str) -> Path:
    d = c.p(rel); d.mkdir(parents=True, exist_ok=True); os.chmod(d, 0o555); return d


@case("os", "data", "synth --out in a read-only folder")
def _(c): ro_dir(c, "ro"); c.run(synth_cmd("ro/X"), "refuse", ["ro"], no_dac=True)


@case("os", "runs", "train --runs in a read-only folder", needs="synth")
def _(c): ro_dir(c, "ro"); c.run(train_cmd(c.trial.fix / "synth", "--runs", "ro/runs"), "refuse", ["ro"], no_dac=True)


@case("os", "evaluate", "evaluate a run in a read-only folder", needs="run")
def _(c):
    r = run_copy(c, "ro_run"); os.chmod(r, 0o555)
    c.run(["evaluate", r], "refuse", ["ro_run"], no_dac=True)


@case("os", "runs", "resume a run in a read-only folder", needs="run")
def _(c):
    r = run_copy(c, "ro_run"); os.chmod(r, 0o555)
    c.run(["train", "--resume", r, "--epochs", "2"], "refuse", ["ro_run"], no_dac=True, timeout=300)


@case("os", "jaad", "preprocess jaad --out in a read-only folder")
def _(c): ro_dir(c, "ro"); c.run(jaad_cmd(SUBSET, out="ro/out"), "refuse", ["ro"], no_dac=True)


@case("os", "jaad", "PEDSENSE_HOME read-only, no --jaad (offline)", should="refuse with one line naming PEDSENSE_HOME; nothing left")
def _(c):
    ro_dir(c, "ro_home")
    c.run(["preprocess", "jaad", "--out", "out"], "refuse", ["ro_home"], env=c.env(PEDSENSE_HOME=c.p("ro_home")), no_dac=True)


@case("os", "jaad", "PEDSENSE_HOME is a file, no --jaad")
def _(c):
    put(c.p("home_file"), "x")
    c.run(["preprocess", "jaad", "--out", "out"], "refuse", ["home_file"], env=c.env(PEDSENSE_HOME=c.p("home_file")))


@case("os", "jaad", "no --jaad, offline, empty PEDSENSE_HOME", should="one line; no empty archive folder left behind")
def _(c):
    c.run(["preprocess", "jaad", "--out", "out"], "refuse", [], env=c.env(PEDSENSE_HOME=c.p("ph")))


@case("os", "data", "synth --out a name of 300 characters")
def _(c): c.run(synth_cmd("x" * 300), "refuse", ["xxxxxxxx"])


@case("os", "runs", "train -n a name of 300 characters", needs="synth")
def _(c): c.run(train_cmd(c.trial.fix / "synth", "-n", "n" * 300), "refuse", ["nnnnnnnn"], keep=["runs"])


@case("os", "jaad", "preprocess jaad --out a name of 300 characters")
def _(c): c.run(jaad_cmd(SUBSET, out="o" * 300), "refuse", ["oooooooo"])


@case("os", "data", "disk full during synth (file size limit)", should="one line naming the file; nothing left")
def _(c): c.run(synth_cmd("X", n="300"), "refuse", ["X"], fsize=8_000)


@case("os", "runs", "disk full during train (file size limit)", needs="synth")
def _(c): c.run(train_cmd(c.trial.fix / "synth"), "refuse", ["runs"], fsize=1_000_000, keep=["runs"], timeout=300)


@case("os", "evaluate", "disk full during evaluate (file size limit)", needs="run")
def _(c): r = run_copy(c); c.run(["evaluate", r], "refuse", ["final_results.json"], fsize=400)


@case("os", "jaad", "disk full during preprocess jaad (file size limit)")
def _(c): c.run(jaad_cmd(SUBSET), "refuse", ["out"], fsize=1_000)


@case("os", "runs", "train --runs is a file", needs="synth")
def _(c): put(c.p("runs"), "x"); c.run(train_cmd(c.trial.fix / "synth"), "refuse", ["runs"])


@case("os", "evaluate", "predict with an unreadable run folder (mode 000)", needs="run synth")
def _(c):
    r = run_copy(c, "locked_run"); s = seq_copy(c); os.chmod(r, 0)
    c.run(["predict", r, s], "refuse", ["locked_run"], no_dac=True)


# --- flags: a setting a model does not read, values out of range ---
def flag_case(name: str, argv, words, expect="refuse", needs="synth samples", owner="config", should=None):
    def fn(c: Case):
        fix = {"SYNTH": c.trial.fix / "synth", "SAMPLES": c.trial.fix / "samples", "BOXRUN": c.trial.have.get("boxrun")}
        a = [fix.get(x, x) if isinstance(x, str) else x for x in argv]
        c.run(a, expect, list(words), writes=["runs"], keep=["runs"], timeout=300)
    case("flags", owner, name, needs=needs)(fn)
    EXPECTED[name] = should or f"refuse naming {', '.join(words) or 'the flag'}"


BOX = ["train", "-m", "box-rnn", "-e", "1", "-b", "16", "--data", "SAMPLES", "--runs", "runs"]
CLIP = ["train", "--preset", "debug", "--crop-size", "32", "--data", "SYNTH", "--runs", "runs"]
flag_case("box-rnn with --backbone (a flag it does not read)", BOX + ["--backbone", "resnet34"], ["--backbone"])
flag_case("box-rnn with --crop-size", BOX + ["--crop-size", "64"], ["--crop-size"])
flag_case("box-rnn with --cache-features", BOX + ["--cache-features"], ["--cache-features"])
flag_case("box-rnn with --weights imagenet", BOX + ["--weights", "imagenet"], ["--weights"])
flag_case("resnet-lstm with --fusion add", CLIP + ["--fusion", "add"], ["--fusion"])
flag_case("resnet-lstm with --features boxes", CLIP + ["--features", "boxes"], ["--features"])
flag_case("last-frame with --hidden-size", CLIP + ["-m", "last-frame", "--hidden-size", "64"], ["--hidden-size"])
flag_case("temporal-pool with --rnn gru", CLIP + ["-m", "temporal-pool", "--rnn", "gru"], ["--rnn"])
flag_case("--lr inf", CLIP + ["--lr", "inf"], ["learning"], should="refuse: a learning rate must be a finite positive number")
flag_case("--lr nan", CLIP + ["--lr", "nan"], ["learning"])
flag_case("--epochs 0", CLIP + ["--epochs", "0"], ["--epochs"])
flag_case("--dropout 1.5", CLIP + ["--dropout", "1.5"], ["dropout"])
flag_case("--dropout -0.1", CLIP + ["--dropout", "-0.1"], ["dropout"])
flag_case("--threshold 1.5", CLIP + ["--threshold", "1.5"], ["threshold"])
flag_case("--weight-decay -1", CLIP + ["--weight-decay", "-1"], ["weight"])
flag_case("--workers -1", CLIP + ["--workers", "-1"], ["workers"])
flag_case("--freeze-until layer9", CLIP + ["--freeze-until", "layer9"], ["freeze"])
flag_case("--features '' (box-rnn)", BOX + ["--features", ""], ["features"])
flag_case("--crop-size 0", CLIP + ["--crop-size", "0"], ["--crop-size"])
flag_case("--sequence-length 0", CLIP + ["--sequence-length", "0"], ["--sequence-length"])
flag_case("--max-items 0", CLIP + ["--max-items", "0"], ["--max-items"])
flag_case("--cache-features with --freeze-until layer2", CLIP + ["--cache-features", "--freeze-until", "layer2"], ["freeze"])
flag_case("--device cuda without a GPU", CLIP + ["--device", "cuda"], ["cuda"], should="refuse: no GPU here")
flag_case("-m box-gru (the old name)", BOX[:2] + ["box-gru"] + BOX[3:], ["box-gru"], "either")
flag_case("--sequence-length 64 on 16-frame clips", CLIP + ["--sequence-length", "64"], ["sequence"], "either")
flag_case("synth --n-train -1", ["synth", "--out", "X", "--n-train", "-1"], ["--n-train"], needs=None, owner="cli")
flag_case("synth --frame-size 0", ["synth", "--out", "X", "--frame-size", "0"], ["--frame-size"], needs=None, owner="cli")
flag_case("an unknown command", ["fly"], ["fly"], needs=None, owner="cli")
flag_case("preprocess without a dataset", ["preprocess"], ["preprocess"], needs=None, owner="cli")
flag_case("evaluate --split val of a box run with --data a clip dataset", ["evaluate", "BOXRUN", "--data", "SYNTH"], ["synth"], needs="boxrun synth",
          owner="evaluate")


# --- the video input (pedsense preprocess video) ---
def video_case(name: str, make, words, expect="refuse", env_video=False):
    def fn(c: Case):
        v = make(c)
        argv = ["preprocess", "video", "--out", "out", "--frame-size", "32"] + ([] if env_video else [v])
        env = c.env(PEDSENSE_VIDEO=v) if env_video else None
        c.run(argv, expect, list(words), writes=["out"], env=env, timeout=300)
    case("video", "video", name, needs="video")(fn)


video_case("a video file that is text", lambda c: put(c.p("street.mp4"), "not a video\n" * 100), ["street.mp4"])
video_case("a video of 0 bytes", lambda c: put(c.p("street.mp4"), b""), ["street.mp4"])
video_case("a video too short (12 frames)", lambda c: Path(shutil.copy(c.trial.fix / "short.mp4", c.p("street.mp4"))), ["street.mp4"])
video_case("a video that does not exist", lambda c: c.p("nope.mp4"), ["nope.mp4"])
video_case("a folder given as the video", lambda c: (c.p("street.mp4").mkdir(), c.p("street.mp4"))[1], ["street.mp4"])
video_case("PEDSENSE_VIDEO naming a missing file", lambda c: c.p("gone.avi"), ["gone.avi"], env_video=True)


if __name__ == "__main__":
    sys.exit(main())
