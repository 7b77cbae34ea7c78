"""The installable package: build a wheel and an sdist, install the wheel into a clean venv with the current fastai
(not the dev pins), and use the `pedsense` command from there: --help, --version, and the demo with the debug preset."""
import configparser, subprocess, sys, venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd, cwd=None, timeout=900):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def test_wheel_in_clean_venv(tmp_path):
    version = configparser.ConfigParser(delimiters=["="]); version.read(ROOT / "settings.ini")
    version = version["DEFAULT"]["version"]
    run(sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", tmp_path / "dist", ROOT)
    wheels = list((tmp_path / "dist").glob("pedsense-*.whl")); sdists = list((tmp_path / "dist").glob("pedsense-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((tmp_path / "dist").iterdir())
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)                       # clean: no system site packages, no dev pins
    py, ped = env / "bin" / "python", env / "bin" / "pedsense"
    run(py, "-m", "pip", "install", "-q", wheels[0])
    fastai = run(py, "-c", "import fastai; print(fastai.__version__)").strip()
    print("fastai in the clean venv:", fastai)
    assert "nbdev" not in run(py, "-m", "pip", "list"), "the library must not pull in the dev stack"
    run(py, "-c", "import pedsense.data, pedsense.synth, pedsense.learner, pedsense.train.resnet_lstm, pedsense.jaad, pedsense.fusion")
    assert "synth" in run(ped, "--help") and "demo" in run(ped, "demo", "--help")
    assert run(ped, "--version").strip() == f"pedsense {version}"
    out = run(ped, "demo", "--preset", "debug", "--data", tmp_path / "data", "--runs", tmp_path / "runs", cwd=tmp_path)
    assert "test split" in out and "accuracy" in out, out[-1000:]
    assert list((tmp_path / "runs").glob("demo_*/best.pt"))
