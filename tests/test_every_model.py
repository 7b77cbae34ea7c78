"""Every registered model trains, evaluates and predicts through the command line, each on the data it reads: clip models on
synthetic clips, box-rnn on a JAAD samples folder, fusion on crops of a test video with their samples beside them. A model
registered without a case here fails the test, so a new model cannot skip it."""
import json
from pathlib import Path

import numpy as np, pandas as pd, pytest

from pedsense.models import list_models
from helpers import cli_ok, write_test_video

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT / "tests" / "data" / "jaad_subset"
CLIP_FLAGS = ["--backbone", "resnet18", "--weights", "none", "--freeze-until", "all", "--crop-size", "32", "-e", "1", "-b", "4", "--max-items", "8"]


def fusion_crops(tmp: Path) -> Path:
    "Crops of `video_0001`'s real boxes, scaled to a small synthetic video, with their samples beside them; labels alternate."
    from pedsense.crops import write_crops
    from pedsense.jaad import JaadTables, benchmark_samples, load_jaad
    jaad = load_jaad(SUBSET, progress=False)
    v = jaad.videos.set_index("video_id").loc["video_0001"]
    (tmp / "clips").mkdir()
    write_test_video(tmp / "clips/video_0001.mp4", int(v.n_frames), int(v.width) // 10, int(v.height) // 10)
    boxes = jaad.boxes[jaad.boxes.video_id == "video_0001"].copy()
    boxes[["x1", "y1", "x2", "y2"]] /= 10
    videos = jaad.videos.assign(width=jaad.videos.width // 10, height=jaad.videos.height // 10)   # the clip is 10 times smaller
    small = JaadTables(jaad.src, videos, jaad.pedestrians, boxes, jaad.vehicle)
    s = benchmark_samples(small, "train")
    s = pd.concat([s.iloc[:6], s.iloc[6:9].assign(split="val"), s.iloc[9:12].assign(split="test")])
    s["label"] = np.arange(len(s)) % 2
    write_crops(s, small, tmp / "clips", out=tmp / "crops", frame_size=32, progress=False)
    return tmp / "crops"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("every_model")
    cli_ok("synth", "--out", tmp / "clips_data", "--n-train", "8", "--n-val", "4", "--n-test", "4", "--frame-size", "32")
    cli_ok("preprocess", "jaad", "--jaad", SUBSET, "--out", tmp / "samples")
    return tmp, dict(clips=tmp / "clips_data", trajectories=tmp / "samples", fusion=fusion_crops(tmp))


CASES = {"resnet-lstm": ("clips", ["--preset", "debug", "--crop-size", "32"]), "temporal-pool": ("clips", CLIP_FLAGS),
         "last-frame": ("clips", CLIP_FLAGS), "box-rnn": ("trajectories", ["-e", "1", "-b", "16"]),
         "fusion": ("fusion", ["--preset", "debug", "--crop-size", "32", "--max-items", "8"])}


@pytest.mark.parametrize("model_type", list_models())
def test_train_evaluate_predict(model_type, datasets):
    tmp, data = datasets
    assert model_type in CASES, f"{model_type} is registered but has no case here: add one"
    kind, flags = CASES[model_type]
    out = cli_ok("train", "--model-type", model_type, "--data", data[kind], "--runs", tmp / "runs", "--name", model_type.replace("-", "_"), *flags)
    run_dir = Path(out.strip().splitlines()[-1].split("run folder: ")[1])
    assert "accuracy" in cli_ok("evaluate", run_dir, "--split", "val")
    from pedsense.metrics import METRICS, MONITORS                 # one key per metric in every file a run writes
    assert set(MONITORS) <= set(pd.read_csv(run_dir / "metrics.csv").columns)
    assert set(METRICS) <= set(json.loads((run_dir / "final_results.json").read_text()))
    inputs = [data["clips"] / "sequences" / "test" / "synth_test_00000"] if kind == "clips" else [data[kind]]
    table = cli_ok("predict", run_dir, *inputs, "--split", "test") if kind != "clips" else cli_ok("predict", run_dir, *inputs)
    header = table.splitlines()[0].split()
    assert header == ["sequence", "prediction", "probability", "p_not-crossing", "p_crossing"], header
    assert len(table.splitlines()) > 1


def test_readme_loading_snippet(datasets):
    "The README's snippet that loads a run with plain torch runs unchanged (only the run folder is filled in)."
    import re
    tmp, data = datasets
    out = cli_ok("train", "--preset", "debug", "--crop-size", "32", "--data", data["clips"], "--runs", tmp / "readme_runs", "--name", "first")
    run_dir = out.strip().splitlines()[-1].split("run folder: ")[1]
    snippet = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert 'run = "models/custom/first_' in snippet, snippet
    code = re.sub(r'run = "[^"]*"', f"run = {run_dir!r}", snippet)
    scope = {}; exec(code, scope)
    assert type(scope["model"]).__name__ == "ResNetLSTM"
