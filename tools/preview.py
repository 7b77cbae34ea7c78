"""Build an offline preview of the docs site: nbdev_proc_nbs, then one HTML page per notebook (nbconvert), in sidebar order.

Quarto, which renders the real site (`nbdev_docs`, in the deploy workflow), cannot be installed on every machine; this preview
renders the same processed notebooks so that pages, API blocks, figures and links can be checked anywhere.
Usage: scripts/preview   ->   _preview/index.html
"""
import html, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def proc_nbs():
    "nbdev_proc_nbs without its Quarto check (which would try to download Quarto and re-install the library)."
    import nbdev.quarto as q
    from fastcore.xtras import working_directory
    q._ensure_quarto = lambda: None
    with working_directory(ROOT): q.nbdev_proc_nbs.__wrapped__()
    return ROOT / "_proc"


def sidebar_order() -> list[str]:
    text = (ROOT / "nbs" / "sidebar.yml").read_text()
    return re.findall(r"-\s+(\S+\.ipynb)", text)


def _front_matter(nb) -> dict:
    cell = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "raw" else None
    if cell is None: return {}
    import yaml
    return yaml.safe_load(cell.source.strip().strip("-")) or {}


def render(proc: Path, name: str, pages: list[str], titles: dict) -> str:
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    nb = nbformat.read(proc / name, as_version=4)
    fm = _front_matter(nb)
    if fm: nb.cells = nb.cells[1:]
    for c in nb.cells:
        if c.cell_type != "code": continue
        lines = c.source.splitlines()
        if any(l.replace(" ", "") == "#|echo:false" for l in lines): c.metadata.setdefault("tags", []).append("remove_input")
        c.source = "\n".join(l for l in lines if not l.startswith("#|"))
        for o in c.get("outputs", []):   # Quarto's link attributes mean nothing to plain markdown
            md = o.get("data", {}).get("text/markdown")
            if md: o["data"]["text/markdown"] = re.sub(r"\{target=[^}]*\}", "", md)
    exp = HTMLExporter(template_name="classic", exclude_input_prompt=True, exclude_output_prompt=True)
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}), enabled=True)
    body, _ = exp.from_notebook_node(nb)
    title = fm.get("title") or titles.get(name) or name
    body = re.sub(r'href="([0-9a-z_]+)\.ipynb', r'href="\1.html', body)
    nav = "".join(f'<li{" class=current" if p == name else ""}><a href="{Path(p).stem}.html">{html.escape(titles.get(p, p))}</a></li>' for p in pages)
    head = (f'<header class="pedsense-page"><h1 class="title">{html.escape(str(title))}</h1>'
            + (f'<p class="description">{html.escape(str(fm["description"]))}</p>' if fm.get("description") else "") + "</header>")
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(str(title))} – pedsense</title>", body, count=1, flags=re.S)
    style = ("<style>nav.pedsense-nav{position:fixed;left:0;top:0;width:230px;height:100%;overflow:auto;padding:1em;"
             "background:#f6f8fa;font:14px sans-serif}nav.pedsense-nav li.current{font-weight:bold}"
             "body{margin-left:250px!important}</style>")
    body = body.replace("</head>", style + "</head>", 1)
    return re.sub(r"<body([^>]*)>", lambda m: f'<body{m.group(1)}><nav class="pedsense-nav"><b>pedsense</b><ul>{nav}</ul></nav>{head}', body, count=1)


def build(out: Path = ROOT / "_preview") -> Path:
    import nbformat
    proc = proc_nbs()
    pages = sidebar_order()
    titles = {}
    for p in pages:
        fm = _front_matter(nbformat.read(proc / p, as_version=4))
        titles[p] = fm.get("title", Path(p).stem) if p != "index.ipynb" else "Home"
    out.mkdir(exist_ok=True)
    for p in pages:
        (out / ("index.html" if p == "index.ipynb" else Path(p).stem + ".html")).write_text(render(proc, p, pages, titles))
    (out / "pages.json").write_text(json.dumps(pages))
    return out


if __name__ == "__main__":
    print(f"preview: wrote {build()}/index.html")
