"""Check that pedsense/ is exactly what the notebooks export and that the notebooks are clean.

Runs nbdev_export and nbdev_clean and fails if either changed a file. Works with or without git.
"""
import hashlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def snapshot(folder: Path, pattern: str) -> dict:
    return {p.relative_to(ROOT): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob(pattern))}


def changed(cmd: str, folder: Path, pattern: str) -> list:
    before = snapshot(folder, pattern)
    subprocess.run([str(BIN / cmd)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=300)
    after = snapshot(folder, pattern)
    return sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))


problems = []
if diff := changed("nbdev_export", ROOT / "pedsense", "*.py"):
    problems.append(f"nbdev_export changed {', '.join(diff)}: the library differed from the notebooks; commit the exported code")
if diff := changed("nbdev_clean", ROOT / "nbs", "*.ipynb"):
    problems.append(f"nbdev_clean changed {', '.join(diff)}: commit the cleaned notebooks")
for p in problems: print("hygiene:", p)
print("hygiene: ok" if not problems else "hygiene: FAILED")
sys.exit(1 if problems else 0)
