"""Starting the app for the browser and load tests: `streamlit run app.py` on an artifacts folder."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(root: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on the artifacts folder `root`, with its review database in `work`; (process, url)."""
    port = free_port()
    env = {**os.environ, "MATCHER_ARTIFACTS": str(root), "MATCHER_DB": f"sqlite:///{work / 'reviews.sqlite'}",
           "MATCHER_CACHE": str(work / "cache")}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                                "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    pytest.fail(f"streamlit did not start: {process.stdout.read().decode(errors='replace')[-2000:]}")
