"""The docs site, checked offline: nbdev_proc_nbs + an nbconvert preview (scripts/preview), opened in headless Chromium.

Chromium is Debian's package; this test installs it when it is missing (as root, with apt-get). Screenshots of the home page
and one lesson are kept in tests/output/.
"""
import html.parser, json, os, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str:
    exe = shutil.which("chromium")
    if exe: return exe
    if os.geteuid() != 0: pytest.fail("chromium is missing and this user cannot apt-get install it: `sudo apt-get install chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, env=env, timeout=600)
    r = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env, timeout=600)
    exe = shutil.which("chromium")
    if not exe: pytest.fail(f"could not install chromium: {r.stderr[-500:]}")
    return exe


class Page(html.parser.HTMLParser):
    "What the checks need from a rendered page's DOM."
    def __init__(self):
        super().__init__(); self.title, self.links, self.imgs, self.h3, self.errors, self._in = "", [], 0, 0, 0, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title": self._in = "title"
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag == "img" and (a.get("src") or "").startswith("data:image/png"): self.imgs += 1
        if tag == "h3": self.h3 += 1
        if "output_error" in (a.get("class") or ""): self.errors += 1
    def handle_endtag(self, tag): self._in = None
    def handle_data(self, data):
        if self._in == "title": self.title += data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import preview
    out = preview.build(tmp_path_factory.mktemp("preview"))
    return out, json.loads((out / "pages.json").read_text())


def dom(exe, page: Path, profile) -> Page:
    r = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "<html" in r.stdout, f"chromium could not open {page}: {r.stderr[-300:]}"
    p = Page(); p.feed(r.stdout); return p


def test_pages(site, tmp_path):
    import nbformat
    exe, (out, pages) = chromium(), site
    for nb in pages:
        page = out / ("index.html" if nb == "index.ipynb" else Path(nb).stem + ".html")
        p = dom(exe, page, tmp_path / "profile")
        assert p.title.strip().endswith("pedsense") and len(p.title) > len(" – pedsense"), f"{page.name}: no title"
        src = nbformat.read(ROOT / "nbs" / nb, as_version=4)
        exports = any(c.cell_type == "code" and "#| export" in c.source for c in src.cells)
        if exports: assert p.h3 > 0, f"{page.name}: no API documentation blocks"
        has_fig = any("image/png" in o.get("data", {}) for c in src.cells if c.cell_type == "code" for o in c.get("outputs", []))
        if has_fig: assert p.imgs > 0, f"{page.name}: the notebook has figures, the page none"
        assert p.errors == 0, f"{page.name}: {p.errors} error output(s)"
        for href in p.links:
            u = urlparse(href)
            if u.scheme or href.startswith("#"): continue
            assert (page.parent / u.path).is_file(), f"{page.name}: broken link {href}"


def test_screenshots(site, tmp_path):
    exe, (out, _) = chromium(), site
    dest = ROOT / "tests" / "output"; dest.mkdir(exist_ok=True)
    for name, page in [("home.png", "index.html"), ("lesson.png", "05_hidden_state.html")]:
        r = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1400",
                            f"--screenshot={dest / name}", (out / page).as_uri()], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and (dest / name).stat().st_size > 10_000, f"no screenshot of {page}: {r.stderr[-300:]}"
