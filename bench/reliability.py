"""docs/RELIABILITY.md from the reliability tests themselves: bad inputs, injected faults, concurrent sessions.

    bash -c 'source .ci/postgres.sh && start_throwaway_postgres && python bench/reliability.py'
                                           # about 5 minutes on 2 cores; without the PostgreSQL server
                                           # its review-store variants are skipped

The same tests run in CI with the rest of the suite; this script runs only them,
reads pytest's JUnit XML (outcomes, and the figures the tests record with
`record_property`) and writes docs/RELIABILITY.md and docs/RELIABILITY.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (section, what it shows, test files or test ids)
SECTIONS = [
    ("Bad input", "catalogues, photos and zips a moderator might upload, each with its clear error, warning or "
                  "quiet repair; nothing may raise anything else",
     ["tests/test_bad_input.py", "tests/test_properties.py", "tests/test_catalog.py", "tests/test_image_read.py",
      "tests/test_imports.py"]),
    ("Faults injected", "builds killed with SIGKILL, damaged or foreign artifacts, the app killed with SIGKILL during "
                        "a burst of decisions, databases reopened, concurrent writers",
     ["tests/test_crash.py", "tests/test_browser.py::test_decisions_the_page_acknowledged_survive_kill_9_of_the_app",
      "tests/test_review.py"]),
    ("Concurrent moderators", "eight browser sessions reviewing one catalogue for a minute, each clicking again "
                              "as soon as its last decision was acknowledged; p50/p95 are click to acknowledgement. "
                              "The eight headless Chromiums share the 2 cores with the server, which used "
                              "`server_cpu_share` of the minute's wall time on a CPU",
     ["tests/test_load.py"]),
    ("Hostile content", "markup in titles, ids and file names shown as text in the real browser; spreadsheet "
                        "formulas neutralised in exports; titles escaped before highlighting; uploads and server "
                        "folders bounded",
     ["tests/test_browser.py::test_html_in_titles_ids_and_file_names_is_shown_as_text_never_run",
      "tests/test_export.py", "tests/test_highlight.py", "tests/test_settings.py"]),
]


def run(targets: list[str], xml: Path) -> int:
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                            *targets], cwd=ROOT)


def read_results(xml: Path) -> list[dict]:
    """Each test case: its file, name, outcome, seconds and recorded figures."""
    cases = []
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed", "error": "failed", "skipped": "skipped"}[tag]
        module = case.get("classname", "").split(".")[-1]
        cases.append({"file": f"tests/{module}.py", "name": case.get("name"), "outcome": outcome,
                      "seconds": float(case.get("time", 0)),
                      "figures": {p.get("name"): _number(p.get("value")) for p in case.iter("property")}})
    return cases


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def belongs(case: dict, target: str) -> bool:
    file, _, name = target.partition("::")
    return case["file"] == file and (not name or case["name"].split("[")[0] == name)


def report(cases: list[dict], started: str) -> tuple[str, dict]:
    summary = {"started": started, "python": platform.python_version(), "sections": []}
    lines = ["# Reliability", "",
             f"Produced by `python bench/reliability.py` on {started[:10]} (Python {summary['python']}, 2 cores, "
             + ("with a throwaway PostgreSQL server as in CI" if os.environ.get("MATCHER_TEST_POSTGRES_URL")
                else "without a PostgreSQL server, so the review store's PostgreSQL variants are skipped") + "), "
             "from the tests named below; CI runs the same tests with the whole suite (`python -m pytest`). "
             "Rerun one part with the pytest command in its section.", ""]
    for title, what, targets in SECTIONS:
        rows = [c for c in cases if any(belongs(c, t) for t in targets)]
        counts = {o: sum(c["outcome"] == o for c in rows) for o in ("passed", "failed", "skipped")}
        summary["sections"].append({"title": title, "targets": targets, **counts})
        lines += [f"## {title}", "", f"{what[0].upper()}{what[1:]}: **{counts['passed']} of {len(rows)} tests "
                  f"passed**" + (f", {counts['failed']} FAILED" if counts["failed"] else "")
                  + (f", {counts['skipped']} skipped" if counts["skipped"] else "") + ".", "",
                  "| tests | cases | passed |", "|---|---|---|"]
        for target in targets:
            mine = [c for c in rows if belongs(c, target)]
            lines.append(f"| `{target}` | {len(mine)} | {sum(c['outcome'] == 'passed' for c in mine)} |")
        for case in rows:
            if case["figures"]:
                figures = ", ".join(f"{k} {v:,}" if isinstance(v, (int, float)) else f"{k} {v}"
                                    for k, v in case["figures"].items())
                lines += ["", f"`{case['name']}`: {figures}."]
                summary["sections"][-1].setdefault("figures", {})[case["name"]] = case["figures"]
        lines += ["", "Rerun: `python -m pytest " + " ".join(targets) + "`", ""]
    lost = sum(c["figures"].get("lost", 0) for c in cases)
    summary["decisions_lost"] = lost
    lines += ["## Decisions lost", "", f"**{lost}**: every decision a page acknowledged, under SIGKILL of the app and "
              "under eight concurrent sessions, was found in the database exactly once.", ""]
    return "\n".join(lines), summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "RELIABILITY"), help="report path without suffix")
    args = parser.parse_args()
    targets = [t for _, _, section in SECTIONS for t in section]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "results.xml"
        code = run(targets, xml)
        cases = read_results(xml)
    text, summary = report(cases, started)
    out = Path(args.out)
    out.with_suffix(".md").write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps({**summary, "cases": cases}, indent=2, default=list) + "\n")
    print(f"wrote {out.with_suffix('.md')} (pytest exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
