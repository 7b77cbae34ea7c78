"""The lessons open in JupyterLab: scripts/lab's server starts on 127.0.0.1, lists the lessons, and its kernel imports pedsense.

The server runs with a token of this test's own, a HOME and Jupyter folders under the test's tmp_path, and no browser; the test
talks to it over its REST and websocket API (as JupyterLab's front end does) and stops it at the end."""
import json, os, secrets, socket, subprocess, sys, time, urllib.request, uuid
from pathlib import Path

import pytest
from tornado import ioloop, websocket

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def get(url, method="GET", body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r: return json.loads(r.read())


def execute(ws_url: str, code: str, timeout: float = 120) -> str:
    "Run `code` in a kernel over the Jupyter websocket protocol; returns what it printed (or its error)."
    async def run():
        conn = await websocket.websocket_connect(ws_url)
        msg_id = uuid.uuid4().hex
        conn.write_message(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                                  "msg_type": "execute_request", "version": "5.3"},
                                       "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                                       "content": {"code": code, "silent": False, "store_history": False,
                                                   "user_expressions": {}, "allow_stdin": False}}))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(await conn.read_message())
            if msg.get("parent_header", {}).get("msg_id") != msg_id: continue
            t = msg["header"]["msg_type"]
            if t == "stream": out.append(msg["content"]["text"])
            if t == "error": out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            if t == "status" and msg["content"]["execution_state"] == "idle": break
        conn.close()
        return "".join(out)
    return ioloop.IOLoop.current().run_sync(run, timeout=timeout + 10)


@pytest.fixture
def lab(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path / "home"; home.mkdir()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([str(ROOT / "scripts" / "lab"), "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try: get(f"{base}/api/status?token={token}"); break
            except OSError: time.sleep(0.5)
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
        else: pytest.fail(f"JupyterLab did not answer on {base}: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        yield base, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try: proc.wait(timeout=30)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, 9)
        log.close()


def test_lab_lists_lessons_and_kernel_imports_pedsense(lab):
    base, token = lab
    listed = {f["name"] for f in get(f"{base}/api/contents?token={token}")["content"]}
    lessons = {p.name for p in (ROOT / "nbs").glob("[0-9]*.ipynb")}
    assert lessons and lessons <= listed, sorted(lessons - listed)
    assert get(f"{base}/lab?token={token}".replace("/lab", "/api/kernelspecs"))["default"] == "python3"
    kernel = get(f"{base}/api/kernels?token={token}", "POST", {"name": "python3"})
    try:
        out = execute(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{kernel['id']}/channels?token={token}",
                      "import pedsense, pedsense.learner; print(pedsense.__version__, pedsense.__file__)")
        assert f"{pedsense_version()} {ROOT / 'pedsense' / '__init__.py'}" in out, out
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE"), timeout=10)


def pedsense_version() -> str:
    import configparser
    c = configparser.ConfigParser(delimiters=["="]); c.read(ROOT / "settings.ini")
    return c["DEFAULT"]["version"]
