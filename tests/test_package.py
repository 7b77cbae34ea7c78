"""The installable package: build a wheel and an sdist, install the wheel into a clean venv with the current fastai
(not the dev pins), and use the `pedsense` command from there: --help, --version, and the demo with the debug preset.

torch and torchvision are not installed a second time: with the CUDA build that pip takes here they and their
dependencies are about 5 GB, which CI's disk cannot hold beside the dev venv. The clean venv sees the dev venv's copies
through a folder of links on a `.pth` path instead. pip counts them as installed, resolves everything else from the
wheel's own requirements, and never uninstalls anything outside the clean venv."""
import configparser, importlib.metadata as md, subprocess, sys, venv
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SHARED = ["torch", "torchvision"]   # torchvision's own requirements (numpy, pillow) are installed fresh


def run(*cmd, cwd=None, timeout=900):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def torch_closure() -> list:
    "The installed distributions torch needs (itself included, extras followed), and torchvision."
    seen, todo = {}, [Requirement("torch")]
    while todo:
        req = todo.pop()
        dist = md.distribution(req.name)
        for extra in [""] + sorted(req.extras):
            if (canonicalize_name(req.name), extra) in seen: continue
            seen[canonicalize_name(req.name), extra] = dist
            todo += [r for r in map(Requirement, dist.requires or []) if not r.marker or r.marker.evaluate({"extra": extra})]
    return list({id(d): d for d in seen.values()}.values()) + [md.distribution("torchvision")]


def link_torch(env: Path, links: Path):
    "Make the dev venv's torch, torchvision and torch's dependencies importable in `env` without copying them."
    links.mkdir()
    for dist in torch_closure():
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            src, dst = Path(dist.locate_file(top)), links / top
            if src.exists() and not dst.exists() and src.suffix != ".pth": dst.symlink_to(src)
    purelib = run(env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    (Path(purelib) / "pedsense-test-torch.pth").write_text(f"{links}\n")


def test_wheel_in_clean_venv(tmp_path):
    version = configparser.ConfigParser(delimiters=["="]); version.read(ROOT / "settings.ini")
    version = version["DEFAULT"]["version"]
    run(sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", tmp_path / "dist", ROOT)
    wheels = list((tmp_path / "dist").glob("pedsense-*.whl")); sdists = list((tmp_path / "dist").glob("pedsense-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((tmp_path / "dist").iterdir())
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)                       # clean: no system site packages, no dev pins
    link_torch(env, tmp_path / "torch-links")
    py, ped = env / "bin" / "python", env / "bin" / "pedsense"
    run(py, "-m", "pip", "install", "-q", wheels[0])
    fastai = run(py, "-c", "import fastai; print(fastai.__version__)").strip()
    print("fastai in the clean venv:", fastai)
    listed = run(py, "-m", "pip", "list")
    assert "nbdev" not in listed, "the library must not pull in the dev stack"
    assert "torch " in listed and "torchvision" in listed
    run(py, "-c", "import pkgutil, importlib, pedsense; [importlib.import_module(m.name) for m in pkgutil.walk_packages(pedsense.__path__, \"pedsense.\")]")
    assert "synth" in run(ped, "--help") and "demo" in run(ped, "demo", "--help")
    assert run(ped, "--version").strip() == f"pedsense {version}"
    out = run(ped, "demo", "--preset", "debug", "--data", tmp_path / "data", "--runs", tmp_path / "runs", cwd=tmp_path)
    assert "test split" in out and "accuracy" in out, out[-1000:]
    assert list((tmp_path / "runs").glob("demo_*/best.pt"))
