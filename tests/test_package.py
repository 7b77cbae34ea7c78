"""The installable package, offline: build a wheel and an sdist from the dev venv (no build isolation, nothing downloaded),
install the wheel into a clean venv with `pip --no-index`, and use the `pedsense` command from there: --help, --version,
`python -m pedsense`, and the demo with the debug preset.

Nothing is downloaded and nothing is installed a second time: the clean venv sees the dev venv's copies of exactly the
distributions pedsense's declared requirements need (their closure, extras followed), through a folder of links on a
`.pth` path. pip counts them as installed, so `pip install --no-index` succeeds only if every requirement pedsense
declares is in that closure, and an import pedsense does not declare fails in the clean venv. The dev stack (nbdev) is
not in the closure, so the test also proves that the library does not need it."""
import configparser, importlib.metadata as md, subprocess, sys, venv
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd, cwd=None, timeout=600):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def requirement_closure(reqs: list[str]) -> list:
    "The installed distributions `reqs` need, themselves included, extras followed."
    seen, todo = {}, [Requirement(r) for r in reqs]
    while todo:
        req = todo.pop()
        dist = md.distribution(req.name)
        for extra in [""] + sorted(req.extras):
            if (canonicalize_name(req.name), extra) in seen: continue
            seen[canonicalize_name(req.name), extra] = dist
            todo += [r for r in map(Requirement, dist.requires or []) if not r.marker or r.marker.evaluate({"extra": extra})]
    return list({id(d): d for d in seen.values()}.values())


def link_requirements(env: Path, links: Path, reqs: list[str]):
    "Make the dev venv's copies of what `reqs` need importable in `env` without copying or downloading them."
    links.mkdir()
    for dist in requirement_closure(reqs):
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            src, dst = Path(dist.locate_file(top)), links / top
            if src.exists() and not dst.exists() and src.suffix != ".pth": dst.symlink_to(src)
    purelib = run(env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    (Path(purelib) / "pedsense-test-torch.pth").write_text(f"{links}\n")


def test_wheel_in_clean_venv(tmp_path):
    version = configparser.ConfigParser(delimiters=["="]); version.read(ROOT / "settings.ini")
    version = version["DEFAULT"]["version"]
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", tmp_path / "dist", ROOT)
    wheels = list((tmp_path / "dist").glob("pedsense-*.whl")); sdists = list((tmp_path / "dist").glob("pedsense-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((tmp_path / "dist").iterdir())
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)                       # clean: no system site packages, no dev pins
    cfg = configparser.ConfigParser(delimiters=["="]); cfg.read(ROOT / "settings.ini")
    link_requirements(env, tmp_path / "links", cfg["DEFAULT"]["requirements"].split())
    py, ped = env / "bin" / "python", env / "bin" / "pedsense"
    run(py, "-m", "pip", "uninstall", "-q", "-y", "setuptools")     # venv's own old copy would shadow the linked one torch needs
    run(py, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", wheels[0])
    print("fastai in the clean venv:", run(py, "-c", "import fastai; print(fastai.__version__)").strip())
    listed = run(py, "-m", "pip", "list")
    assert "nbdev" not in listed, "the library must not pull in the dev stack"
    assert "torch " in listed and "torchvision" in listed
    run(py, "-c", "import pkgutil, importlib, pedsense; [importlib.import_module(m.name) for m in pkgutil.walk_packages(pedsense.__path__, \"pedsense.\")]")
    assert "synth" in run(ped, "--help") and "demo" in run(ped, "demo", "--help")
    assert run(ped, "--version").strip() == f"pedsense {version}" == run(py, "-m", "pedsense", "--version").strip()
    assert "pedsense[video]" in subprocess.run([str(py), "-c", "from pedsense.core import optional_import; optional_import('av', 'video')"],
                                               capture_output=True, text=True, timeout=120).stderr   # the extra is not installed: one line names it
    out = run(ped, "demo", "--preset", "debug", "--data", tmp_path / "data", "--runs", tmp_path / "runs", cwd=tmp_path)
    assert "test split" in out and "accuracy" in out, out[-1000:]
    assert list((tmp_path / "runs").glob("demo_*/best.pt"))
