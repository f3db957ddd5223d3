"""bench/reliability.py reads pytest's JUnit XML and writes the report: run it on a real pytest run of two tiny tests."""
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("reliability", ROOT / "bench" / "reliability.py")
reliability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reliability)

TINY = '''
def test_holds(record_property):
    record_property("lost", 0)
    record_property("p95_ms", 412)


def test_breaks():
    assert 1 == 2
'''


def test_the_report_counts_outcomes_and_shows_recorded_figures(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_load.py").write_text(TINY)
    xml = tmp_path / "results.xml"
    subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                     "tests/test_load.py"], cwd=tmp_path, stdout=subprocess.DEVNULL)
    cases = reliability.read_results(xml)
    assert {(c["name"], c["outcome"]) for c in cases} == {("test_holds", "passed"), ("test_breaks", "failed")}
    text, summary = reliability.report(cases, "2026-01-01T00:00:00+00:00")
    section = next(s for s in summary["sections"] if s["title"] == "Concurrent moderators")
    assert (section["passed"], section["failed"]) == (1, 1)
    assert "1 of 2 tests passed**, 1 FAILED" in text and "p95_ms 412" in text
    assert summary["decisions_lost"] == 0
