"""bench/app.py end to end on its small demo build (engine part only: no browser)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ["first_open", "load", "threshold_change", "threshold_steps", "search_words", "search_id", "inspect",
              "review_uncertain", "review_by_group", "export"]


def test_the_app_benchmark_times_every_operation_and_writes_json_and_markdown(tmp_path):
    out = tmp_path / "app-benchmark"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "app.py"), "--small", "--tile", "3", "--repeats", "2",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert list(report["engine"]) == OPERATIONS
    for name, timing in report["engine"].items():
        assert timing["runs"] >= 1 and 0 <= timing["median_ms"] <= timing["p95_ms"], name
    assert set(report["engine"]["threshold_steps"]["parts"]) == {"apply", "groups", "summary", "sweep"}
    strategies = report["threshold_change_by_strategy"]
    assert report["catalogue"]["strategy"] in strategies
    assert all(s["charted"]["runs"] == 2 and (s["other"] is None) == (s["thresholds"] < 2) for s in strategies.values())
    catalogue = report["catalogue"]  # three disjoint copies of the 150-listing demo
    assert catalogue["listings"] == 450 and catalogue["tiled"]["copies"] == 3
    assert catalogue["pairs"] % 3 == 0 and catalogue["pairs"] > 0
    assert "browser" not in report
    text = out.with_suffix(".md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in text for name in OPERATIONS)
    assert "Not measured (run with `--browser`)" in text and "3 disjoint copies" in text
