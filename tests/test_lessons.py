"""A number written in a lesson's prose must appear in one of that lesson's outputs (as rounded in the prose).
Exceptions: whole numbers that are in the lesson's code (settings: 16 frames, 400 clips), and ALLOWED (definitions, published figures)."""
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).parent.parent / "nbs"
LESSONS = sorted(NBS.glob("[0-9][0-9]*.ipynb"))

# Numbers that are settings, definitions or published figures, per lesson: not results, so no output has to show them.
ALLOWED = {
    "02_jaad": {"5", "76"},              # the archive's size in MB; 16 + 60 frames, the protocol's shortest track
    "11_crops": {"4.0", "10×"},         # the videos' licence (CC BY 4.0); the test video's scale
    "04_trajectory": {"1280", "1920"},  # JAAD's two video widths
    "09_evaluate": {"3e-3"},             # the resnet18_frozen preset's learning rate (lesson 05)
}

NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?(?:e-?\d+)?|\.\d+)(%|×)?(?![\w/])")

def prose(cell_source: str) -> str:
    "A markdown cell's prose: without code blocks, code spans, link targets, headings' anchors and lesson names."
    s = re.sub(r"```.*?```", " ", cell_source, flags=re.S)
    s = re.sub(r"`[^`]*`", " ", s)
    s = re.sub(r"\]\([^)]*\)", "]", s)                                   # link targets
    s = re.sub(r"\b[Ll]essons? \d+[a-z]?(?:(?:,| and| or| to) \d+[a-z]?)*", " ", s)   # "lesson 03", "lessons 02 and 02a"
    s = re.sub(r"^\s*\d+\. ", " ", s, flags=re.M)                         # numbered list items
    s = re.sub(r"\b(?:0\d[a-z]?|\d\d[a-z])\b", " ", s)                      # lesson numbers in a list: 02a, 06
    s = re.sub(r"\b(?:19|20)\d\d\b", " ", s)                                 # years of papers
    return s

def outputs(nb) -> str:
    out = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if "text" in o: out.append("".join(o["text"]))
            for k in ("text/plain", "text/html", "text/markdown"):
                if k in o.get("data", {}): out.append(re.sub(r"<[^>]+>", " ", "".join(o["data"][k])))
    return "\n".join(out)

def _value(tok): return float(tok if not tok.startswith(".") else "0" + tok)
def _decimals(tok):
    m = re.match(r"^\d*\.(\d+)$", tok); return len(m.group(1)) if m else 0

def shown(tok: str, unit: str, values: list[float]) -> bool:
    "Whether prose number `tok` (with `unit`) is an output value, as rounded in the prose (`85 %` also matches 0.85; `1e-3` within 5 %)."
    v, d = _value(tok), _decimals(tok)
    if "e" in tok: return any(o > 0 and abs(o - v) / v < 0.05 for o in values)
    return (any(round(o, d) == round(v, d) for o in values)
            or unit == "%" and any(round(o, d + 2) == round(v / 100, d + 2) for o in values))

def code_settings(nb) -> set[str]:
    "Settings in the lesson's code: whole numbers (16 frames, 400 clips) and values given to a name (`lr=3e-3`, `overlap=0.8`)."
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return set(re.findall(r"(?<![\w.])\d+(?![\w.])", code)) | set(re.findall(r"=\s*(\d*\.?\d+(?:e-?\d+)?)\b", code))

def unshown_numbers(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    values = [_value(t) for t, _ in NUMBER.findall(outputs(nb).replace(",", ""))]
    settings = code_settings(nb)
    allowed = ALLOWED.get(path.stem, set())
    missing = []
    for c in nb["cells"]:
        if c["cell_type"] != "markdown": continue
        text = "".join(c["source"]).split("## Try it")[0]          # exercises pose numbers, they do not claim them
        for tok, unit in NUMBER.findall(prose(text)):
            if tok + unit in allowed or (not unit and tok in settings) or shown(tok, unit, values): continue
            missing.append(tok + unit)
    return missing

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_prose_numbers_are_outputs(lesson):
    missing = unshown_numbers(lesson)
    assert not missing, f"{lesson.name}: numbers in the prose that no output shows: {', '.join(missing)} (show them, or allow a setting in tests/test_lessons.py)"


# --- the shape of a lesson -------------------------------------------------------------------------------------
INSIDER = ("existing tool", "existing pedsense", "seed api", "stage 2 guide", "reference design", "reference docs",
           "the goals the project", "the issue", "the ticket", "as requested")

def _cells(path): return json.loads(path.read_text())["cells"]
def _md(path): return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown"]

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_shape(lesson):
    "One sitting; opens with goals and prerequisites; ends with a questionnaire, exercises and a link to what comes next."
    cells, mds = _cells(lesson), _md(lesson)
    assert len(cells) <= 60, f"{lesson.name}: {len(cells)} cells (at most 60)"
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), f"{lesson.name}: the first cell must be the title"
    assert "**You will learn**" in first and "**You should know**" in first, f"{lesson.name}: the first cell must say what the reader learns and needs"
    end = "\n".join(mds)
    assert "## Questionnaire" in end and "## Try it" in end, f"{lesson.name}: needs a questionnaire and Try it exercises"
    questions = re.findall(r"^\d+\. ", end.split("## Questionnaire")[1].split("## Try it")[0], flags=re.M)
    assert len(questions) >= 6, f"{lesson.name}: {len(questions)} questions (at least 6)"
    assert re.search(r"Next: \[.+\]\(\w+\.ipynb\)", end.split("## Try it")[1]), f"{lesson.name}: no 'Next: [...](...ipynb)' link after the exercises"

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_no_insider_wording(lesson):
    text = "\n".join(_md(lesson)).lower()
    found = [w for w in INSIDER if w in text]
    assert not found, f"{lesson.name}: speaks of how the project was made ({', '.join(found)}): speak to a reader who knows none of it"

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_no_warnings_in_outputs(lesson):
    warned = [i for i, c in enumerate(_cells(lesson)) for o in c.get("outputs", [])
              if o.get("name") == "stderr" and "Warning" in "".join(o.get("text", ""))]
    assert not warned, f"{lesson.name}: warnings in the outputs of cells {warned} (quiet_dependency_warnings, or fix their cause)"


def _mixed_import_cells(path):
    "Code cells that hold an import and other statements: nbdev's docs processor runs every cell that holds an import (its FAQ)."
    import ast
    out = []
    for c in _cells(path):
        src = "".join(c["source"])
        if c["cell_type"] != "code" or "#| export" in src: continue
        try: body = ast.parse("\n".join(l for l in src.splitlines() if not l.startswith(("%", "!"))), ).body
        except SyntaxError: continue
        imports = [t for t in body if isinstance(t, (ast.Import, ast.ImportFrom))]
        rest = [t for t in body if not isinstance(t, (ast.Import, ast.ImportFrom))
                and not (isinstance(t, ast.Expr) and "quiet_dependency_warnings()" in ast.unparse(t))]   # self-contained: fine to run anywhere
        if imports and rest: out.append(c.get("id"))
    return out

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_imports_apart_from_code(lesson):
    mixed = _mixed_import_cells(lesson)
    assert not mixed, f"{lesson.name}: cells {mixed} hold an import and other code (nbdev's docs build runs such cells alone): give the imports a cell of their own"


PART_ONE = [p for p in LESSONS if int(p.stem[:2]) <= 10]   # the idea, read in order (00-10); part two may hold longer reference code

@pytest.mark.parametrize("lesson", PART_ONE, ids=lambda p: p.stem)
def test_part_one_code_cells_are_short(lesson):
    "In part one the idea is on the page: no code cell over 40 lines (drawing code and plumbing live in modules or part two)."
    long = {c.get("id"): n for c in _cells(lesson) if c["cell_type"] == "code" and (n := len("".join(c["source"]).splitlines())) > 40}
    assert not long, f"{lesson.name}: code cells over 40 lines (cell id: lines): {long}"
