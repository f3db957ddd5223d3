"""Starting the app for the browser and load tests: `streamlit run app.py` on an artifacts folder, as the app
benchmark starts it (bench/app.py), with its review database and cache in a work folder."""
import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

_spec = importlib.util.spec_from_file_location("bench_app", ROOT / "bench" / "app.py")
bench_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_app)


def start_app(root: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """(process, url) of the app on the artifacts folder `root`; its log is work/streamlit.log."""
    try:
        return bench_app.start_app(root, work)
    except RuntimeError as error:
        pytest.fail(str(error))
