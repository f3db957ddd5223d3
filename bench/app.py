"""The moderators' app's latencies on a built catalogue: each page's engine work per interaction, and the browser's.

    python bench/app.py --artifacts /tmp/devbuild/artifacts/shopee-dev/model --browser   # docs/app-benchmark.{json,md}
    python bench/app.py --small --repeats 2 --out /tmp/app-benchmark                     # a 150-listing demo (CI)
    python bench/app.py --artifacts .../shopee-dev/model --tile 44 --out docs/app-benchmark-1m   # ~1M listings

Engine part: what each page calls on matcher.explore.Explorer (and the review
store, and the export) for one interaction, timed `--repeats` times on varied
inputs, median and p95. Loading the build happens once per process in the app
(st.cache_resource), so it is timed on its own.

Browser part (`--browser`, needs /usr/bin/chromium and Playwright for Python):
`streamlit run app.py` on the build's artifacts folder, driven by headless
Chromium. A MutationObserver in the page times each interaction from the input
event (key or pointer down) to the moment the awaited content shows, and to the
last change of the page before it is quiet again (the rerun drawn, Streamlit's
status widget gone). It also opens every page, checks none shows an error, and
saves a screenshot of the Thresholds page.

A build's folder must lie at <artifacts root>/<catalogue name>/model, as the app finds it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.artifacts import read_manifest, write_artifacts  # noqa: E402
from matcher.explore import Explorer  # noqa: E402
from matcher.export import csv_bytes, groups_frame  # noqa: E402
from matcher.matching import OFF, UnionRule  # noqa: E402
from matcher.review import ReviewStore, catalogue_fingerprints, catalogue_name  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LARGE = 500_000  # listings from which the large-catalogue targets apply


def target_ms(operation: str, listings: int) -> float | None:
    """The target latency: a threshold change within 300 ms on a real catalogue (34k listings), within 2 s
    at a million (issue 7)."""
    return {"threshold_change": 300 if listings < LARGE else 2000}.get(operation)


ENGINE = ["first_open", "load", "threshold_change", "threshold_steps", "search_words", "search_id", "inspect", "review_uncertain",
          "review_by_group", "export"]
REVIEWER = "bench"
QUEUE = 50  # pairs the Review page asks for
DECISIONS = 60  # moderators' decisions in the review store the Review and Groups pages read


# --- timing ------------------------------------------------------------------------------------------------------

def run_parts(parts) -> dict[str, float]:
    """Run (name, fn) steps in order, each fn taking the previous result; milliseconds per step and in total."""
    times, value = {}, None
    for name, fn in parts:
        start = time.perf_counter()
        value = fn(value)
        times[name] = (time.perf_counter() - start) * 1000
    times["total"] = sum(times.values())
    return times


def stats(samples: list[dict[str, float]]) -> dict:
    """Median and p95 (ms) of the total and of each step over the samples."""
    def summary(values):
        return {"median_ms": round(float(np.median(values)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2)}

    out = {"runs": len(samples), **summary([s["total"] for s in samples])}
    steps = [k for k in samples[0] if k != "total"]
    if len(steps) > 1:
        out["parts"] = {k: summary([s[k] for s in samples]) for k in steps}
    return out


# --- the engine, page by page --------------------------------------------------------------------------------------

def varied_rule(rule: UnionRule, step: int, channel: str | None = None) -> UnionRule:
    """The rule with `channel`'s threshold (default: the first active one) moved by 0.01 * (1..30), a different
    value each step, so nothing repeats back to back."""
    thresholds = dict(rule.thresholds)
    channel = channel or active_channels(rule)[0]
    start = thresholds[channel] if thresholds[channel] < OFF else 0.9
    thresholds[channel] = round(min(max(start + 0.01 * (step % 30 + 1) * (-1 if start > 0.6 else 1), 0.2), 1.0), 2)
    return UnionRule(thresholds, rule.weights, rule.rescue, rule.max_matches, rule.rescue_by, rule.mutual)


def active_channels(rule: UnionRule) -> list[str]:
    return [c for c, t in rule.thresholds.items() if t < OFF] or list(rule.thresholds)


def charted(rule: UnionRule) -> str:
    """The channel the Thresholds page charts at first: the rule's first."""
    return next(iter(rule.thresholds))


def threshold_plan(ex: Explorer, rule: UnionRule, moved: str | None = None):
    """The Thresholds fragment's work for the i-th slider move of `moved` (default: the charted channel, or the
    first active one if that is off: varied_rule's default), as the page does it: `Explorer.tuned`, the charted
    sweep alongside."""
    return lambda i: [("tuned", lambda _: ex.tuned(varied_rule(rule, i, moved), charted(rule)))]


def threshold_steps(ex: Explorer, rule: UnionRule):
    """threshold_plan's default move, one step after another: where the time goes."""
    return lambda i: [("apply", lambda _: ex.apply(varied_rule(rule, i))),
                      ("groups", lambda a: (a, ex.groups(a))),
                      ("summary", lambda ag: (ag[0], ex.summary(*ag))),
                      ("sweep", lambda a: ex.sweep(a[0].rule, charted(rule)))]


def timed(plan, repeats: int) -> dict:
    """A plan's steps, once to warm up (the app's first draw of a page does the same work), then `repeats` times."""
    run_parts(plan(repeats))
    return stats([run_parts(plan(i)) for i in range(repeats)])


def by_strategy(ex: Explorer, repeats: int, log=print) -> dict:
    """A threshold change on each strategy the build tuned: moving the charted threshold (its sweep is kept from
    the page's last draw) and moving another one (the sweep is computed again)."""
    results = {}
    for name, rule in ex.strategies.items():
        others = [c for c in active_channels(rule) if c != charted(rule)]
        results[name] = {"thresholds": len(active_channels(rule)), "charted": timed(threshold_plan(ex, rule), repeats),
                         "other": timed(threshold_plan(ex, rule, others[0]), repeats) if others else None}
        log(f"threshold change, {name}: charted {results[name]['charted']['median_ms']:.1f} ms"
            + (f", other {results[name]['other']['median_ms']:.1f} ms" if results[name]["other"] else ""))
    return results


def probe_words(ex: Explorer, count: int, rng) -> list[str]:
    """Search terms a moderator might type: one or two words of random titles."""
    words = []
    while len(words) < count:
        title = ex.titles[rng.integers(len(ex))].lower().split()
        title = [w for w in title if len(w) >= 3]
        if title:
            words.append(" ".join(title[:1 + len(words) % 2]))
    return words


def seed_decisions(ex: Explorer, store: ReviewStore, name: str, prints: dict, rng, count: int = DECISIONS) -> None:
    """Confirm and reject `count` random candidate pairs of the table, as moderators would have."""
    rows = rng.choice(len(ex.table), size=min(count, len(ex.table)), replace=False)
    for i, row in enumerate(rows):
        a, b = ex.posting_ids[ex.query[row]], ex.posting_ids[ex.candidate[row]]
        store.record(name, a, b, "confirmed" if i % 3 else "rejected", REVIEWER,
                     fingerprints=(prints.get(a), prints.get(b)))


def load(folder: Path, times: int, log=print) -> tuple[Explorer, list[dict]]:
    """The build opened `times` times (as a fresh app process would, once); the last Explorer and the timings.

    The first open after a build writes the table's memory-mapped Arrow file (matcher.table_store): any left
    by an earlier run is removed first, so the first timing is that conversion and the others are mappings.
    """
    for mapped in folder.glob("neighbours.*.arrow"):
        mapped.unlink()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        ex = Explorer(folder)
        samples.append({"total": (time.perf_counter() - start) * 1000})
    log(f"loaded {len(ex):,} listings, {len(ex.table):,} table rows in {samples[0]['total']:.0f} ms")
    return ex, samples


def engine_benchmark(ex: Explorer, repeats: int, log=print) -> tuple[dict, dict]:
    """Every operation's timings on an opened build, and a description of its catalogue."""
    rng = np.random.default_rng(0)
    name, prints = catalogue_name(ex.folder), catalogue_fingerprints(ex.listings)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        store = ReviewStore(f"sqlite:///{Path(work) / 'reviews.sqlite'}")
        seed_decisions(ex, store, name, prints, rng)
        base = ex.rule
        words = probe_words(ex, repeats + 1, rng)
        positions = rng.integers(len(ex), size=repeats + 1)
        # a whole posting id, or its first half (the search lists every id starting so), in turn
        typed_ids = [pid if i % 2 == 0 else pid[:max(1, len(pid) // 2)] for i, pid in enumerate(ex.posting_ids[positions])]
        plans = {
            "threshold_change": threshold_plan(ex, base),
            "threshold_steps": threshold_steps(ex, base),
            "search_words": lambda i: [("search_titles", lambda _: ex.search_titles(words[i]))],
            "search_id": lambda i: [("search_ids", lambda _: ex.search_ids(typed_ids[i]))],
            "inspect": lambda i: [("apply", lambda _: ex.apply(base)),
                                  ("neighbours", lambda a: ex.neighbours(int(positions[i]), a))],
            "review_uncertain": lambda i: [("apply", lambda _: ex.apply(varied_rule(base, i))),
                                           ("reviewed", lambda a: (a, store.reviewed(name, REVIEWER))),
                                           ("queue", lambda ad: ex.review_queue(*ad, limit=QUEUE))],
            "review_by_group": lambda i: [("apply", lambda _: ex.apply(varied_rule(base, i))),
                                          ("decisions", lambda a: (a, store.for_grouping(name, prints))),
                                          ("groups", lambda ad: (ad[0], ex.groups(*ad))),
                                          ("reviewed", lambda ag: (*ag, store.reviewed(name, REVIEWER))),
                                          ("queue", lambda agd: ex.review_queue(agd[0], agd[2], agd[1],
                                                                                limit=QUEUE))],
            "export": lambda i: [("apply", lambda _: ex.apply(base)),
                                 ("decisions", lambda a: (a, store.for_grouping(name, prints))),
                                 ("groups", lambda ad: (ex.groups(*ad), ad[1])),
                                 ("groups_frame", lambda gd: groups_frame(gd[0], ex.posting_ids, gd[1])),
                                 ("csv_bytes", lambda frame: csv_bytes(frame))],
        }
        for operation, plan in plans.items():
            results[operation] = timed(plan, repeats)
            log(f"{operation}: median {results[operation]['median_ms']:.1f} ms, p95 {results[operation]['p95_ms']:.1f} ms")
        store.close()
    low, high = np.minimum(ex.query, ex.candidate).astype(np.int64), np.maximum(ex.query, ex.candidate)
    catalogue = {"name": name, "listings": len(ex), "table_rows": len(ex.table),
                 "pairs": int(len(np.unique(low * len(ex) + high))), "channels": ex.channels,
                 "strategy": ex.manifest.get("strategy", "union"), "labelled": ex.labels is not None,
                 "rule": base.to_dict(), "decisions": DECISIONS, "tiled": ex.manifest.get("tiled")}
    return results, catalogue


# --- the browser -------------------------------------------------------------------------------------------------

OBSERVER = """
window.__bench = {last: 0, input: 0, watch: null, seen: null};
new MutationObserver(() => {
  const b = window.__bench, now = performance.now();
  b.last = now;
  if (b.watch && b.seen === null && b.watch()) b.seen = now;
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
for (const type of ['keydown', 'pointerdown'])
  document.addEventListener(type, () => { window.__bench.input = performance.now(); }, true);
"""
WITH_GC = {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}  # Streamlit's default gc.collect() after every script run
QUIET_MS = 1000  # longer than any pause inside a rerun: the status widget shows after 0.5 s and animates
METRIC = """(() => { const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
  .find(e => e.textContent.includes('matched pairs'));
  return m ? m.querySelector('[data-testid="stMetricValue"]').textContent : null; })()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(artifacts_root: Path, work: Path, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on the artifacts folder with its own review database and cache; (process, url)."""
    port = free_port()
    env = {**os.environ, "MATCHER_ARTIFACTS": str(artifacts_root), "MATCHER_DB": f"sqlite:///{work / 'reviews.sqlite'}",
           "MATCHER_CACHE": str(work / "cache"), **(extra_env or {})}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
                                str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                               cwd=ROOT, env=env, stdout=open(work / "streamlit.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"streamlit did not start: {(work / 'streamlit.log').read_text()[-2000:]}")


def watch(page, predicate: str) -> None:
    """Wait for the next interaction's `predicate` (a JS expression) by the page's observer."""
    page.evaluate(f"() => {{ window.__bench.seen = null; window.__bench.watch = () => {{ try {{ return !!({predicate}); }}"
                  f" catch (e) {{ return false; }} }}; }}")


def measured(page, timeout_s: float = 120, required: bool = True) -> dict[str, float] | None:
    """After an input: ms from it until the watched content showed, and until the page was drawn and quiet.

    None when the page went quiet without showing it (`required`: an error then)."""
    page.wait_for_function(
        f"""() => {{ const b = window.__bench;
          if (b.seen === null && b.watch && b.watch()) b.seen = performance.now();
          return !document.querySelector('[data-testid="stStatusWidget"]')
                 && performance.now() - Math.max(b.last, b.input) > {QUIET_MS}; }}""", polling=50, timeout=timeout_s * 1000)
    b = page.evaluate("() => ({seen: window.__bench.seen, last: window.__bench.last, input: window.__bench.input})")
    if b["seen"] is None:
        if required:
            raise RuntimeError(f"the awaited content never showed; the page says: {page.inner_text('body')[:2000]}")
        return None
    return {"shown": b["seen"] - b["input"], "redrawn": max(b["last"], b["seen"]) - b["input"]}


def settle(page, text: str | None = None, timeout_s: float = 900) -> None:
    """Wait until the page has `text` and has been quiet for a while (first loads may build the demo: minutes)."""
    watch(page, f"document.body.textContent.includes({json.dumps(text)})" if text else "true")
    page.wait_for_function(
        f"""() => {{ const b = window.__bench;
          return (!b.watch || b.watch()) && !document.querySelector('[data-testid="stStatusWidget"]')
                 && performance.now() - b.last > {QUIET_MS}; }}""", polling=100, timeout=timeout_s * 1000)


def problems(page) -> str | None:
    text = page.inner_text("body")
    for bad in ("Something went wrong", "Traceback"):
        if bad in text:
            return text[text.index(bad):][:500]
    return None


def go(page, title: str, expect: str) -> dict[str, float]:
    """Open a page from the sidebar; the time it took, and a problem if it shows one."""
    watch(page, f"document.body.textContent.includes({json.dumps(expect)})")
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    return measured(page)


def pick_catalogue(page, name: str) -> None:
    page.locator(".st-key-home_catalogue").click()
    page.get_by_role("option", name=name, exact=True).click()
    settle(page, "candidate pairs")


def browser_thresholds(page, repeats: int) -> list[dict]:
    """Slider key press to redrawn page, `repeats` times on the first enabled slider."""
    samples, unchanged = [], 0
    slider = page.locator('[data-testid="stSlider"] input[type="range"]:not([disabled])').first
    while len(samples) < repeats and unchanged < 4 * repeats:
        before = page.evaluate(METRIC)
        value = float(slider.input_value())
        watch(page, f"{METRIC} !== {json.dumps(before)}")
        slider.focus()
        page.keyboard.press("ArrowRight" if value < 0.95 and (len(samples) // 5) % 2 == 0 or value <= 0.25
                            else "ArrowLeft")
        sample = measured(page, timeout_s=60, required=False)
        if sample is None:  # a small catalogue: one step changed no pair, so nothing marks the rerun's end
            unchanged += 1
        else:
            samples.append(sample)
    return samples


def browser_search_and_inspect(page, words: list[str]) -> tuple[list[dict], list[dict]]:
    """Per word: type it on Search, Enter until the results show; then Inspect on the first until its candidates do."""
    searches, inspections = [], []
    for word in words:
        go(page, "Search", "Search by")
        before = page.locator('[data-testid="stMain"]').text_content()
        box = page.get_by_label("Words in the title")
        box.fill(word)
        watch(page, "[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Inspect')"
                    f" && document.querySelector('[data-testid=\"stMain\"]').textContent !== {json.dumps(before)}")
        box.press("Enter")
        searches.append(measured(page))
        watch(page, "document.body.textContent.includes(' candidates') && "
                    "!document.body.textContent.includes('Search by')")
        page.get_by_role("button", name="Inspect").first.click()
        inspections.append(measured(page))
    return searches, inspections


def check_pages(page, screenshot: Path | None) -> dict:
    """Every page opened once on the catalogue: its load time and whether it shows an error."""
    opened = {}
    for title, expect in (("Search", "Search by"), ("Inspect", "Posting id"), ("Thresholds", "matched pairs"),
                          ("Review", "Same product?"), ("Groups and export", "Export")):
        timing = go(page, title, expect)
        opened[title] = {"ms": round(timing["redrawn"], 1), "problem": problems(page)}
        if title == "Thresholds" and screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=False)
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Groups CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").count("\n")
    opened["Groups and export"]["csv_rows"] = lines - 1
    return opened


def browser_benchmark(folder: Path, catalogue: str, words: list[str], repeats: int, screenshot: Path | None,
                      check: bool = True, extra_env: dict | None = None, log=print) -> dict:
    """The app in headless Chromium: slider, search and inspector latencies, and (`check`) every page checked."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work, sync_playwright() as p:
        process, url = start_app(folder.parent.parent, Path(work), extra_env)
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chromium.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.add_init_script(OBSERVER)
            page.goto(url)
            log("browser: waiting for the app's first page (it builds the demo catalogue on a first start)")
            settle(page, "Catalogue")
            pick_catalogue(page, catalogue)
            page.get_by_label("Your name (recorded with each decision)").fill(REVIEWER)
            page.keyboard.press("Enter")
            settle(page)
            go(page, "Thresholds", "matched pairs")
            slider = browser_thresholds(page, repeats)
            log(f"browser slider: median {np.median([s['redrawn'] for s in slider]):.0f} ms")
            searches, inspections = browser_search_and_inspect(page, words)
            pages = check_pages(page, screenshot) if check else None
            chromium.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"env": extra_env or {}, "slider": browser_stats(slider), "search_words": browser_stats(searches),
            "inspect": browser_stats(inspections), **({"pages": pages} if check else {})}


def browser_stats(samples: list[dict]) -> dict:
    return {key: stats([{"total": s[key]} for s in samples]) for key in ("shown", "redrawn")}


# --- the report --------------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else ""
    import streamlit

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "streamlit": streamlit.__version__, "load_average": [round(x, 2) for x in os.getloadavg()],
            "streamlit_env": {k: v for k, v in os.environ.items() if k.startswith("STREAMLIT_")}}


WHAT = {"first_open": "Explorer(folder), first time after a build: the table converted to its memory-mapped Arrow file",
        "load": "Explorer(folder) later: the Arrow file mapped; once per process, shared by every session",
        "threshold_change": "Thresholds slider (Explorer.tuned): apply + groups + summary, the sweep alongside",
        "threshold_steps": "The same, one step after another (where the time goes)",
        "search_words": "Search by words (search_titles)", "search_id": "Search by posting id (search_ids)",
        "inspect": "Inspect: apply + neighbours of a listing",
        "review_uncertain": "Review, most uncertain first: apply + reviewed + review_queue",
        "review_by_group": "Review by group: apply + decisions + groups + reviewed + review_queue",
        "export": "Groups CSV: apply + decisions + groups + groups_frame + csv_bytes (whole catalogue)"}
INTERACTIONS = {"slider": "Thresholds: slider key press until 'matched pairs' changes",
                "search_words": "Search: Enter until the results show",
                "inspect": "Inspect button until the candidates show"}


def markdown(report: dict) -> str:
    return "\n".join(["# The app's latencies", "", *header(report), "", "## Engine, per interaction", "",
                      *engine_lines(report), "", "## Browser", "", *browser_lines(report.get("browser"), report["engine"]["threshold_change"]["median_ms"])]) + "\n"


def header(report: dict) -> list[str]:
    c, m = report["catalogue"], report["machine"]
    env = ", ".join(f"{k}={v}" for k, v in m.get("streamlit_env", {}).items())
    return [f"`python bench/app.py {report['command']}` on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
            f"Streamlit {m['streamlit']}{' (' + env + ')' if env else ''}; load average {m['load_average'][0]} at "
            f"the start, {report['load_average_end'][0]} at the end.", "",
            f"Catalogue **{c['name']}**: {c['listings']:,} listings, {c['pairs']:,} candidate pairs "
            f"({c['table_rows']:,} table rows, both directions), channels {', '.join(c['channels'])}, "
            f"strategy `{c['strategy']}`{', labelled' if c['labelled'] else ''}"
            + (f" ({c['tiled']['copies']} disjoint copies of `{c['tiled']['from']}`: its real table at "
               f"{c['tiled']['copies']} times the size, see `tiled_build`)" if c.get("tiled") else "")
            + f"; {c['decisions']} moderator "
            f"decisions in a temporary SQLite review store. {report['repeats']} repeats per operation, "
            "each on a different input (threshold, words, listing), after one run to warm up (as the page's "
            "first draw does)."]


def engine_lines(report: dict) -> list[str]:
    before = report.get("baseline")
    lines = [f"*Before*: {before['label']}; medians of `python bench/app.py {before['command']}` on the same "
             "machine.", ""] if before else []
    lines += ["| operation | what the page does | median ms | p95 ms | target |" + (" before |" if before else ""),
              "|---|---|---|---|---|" + ("---|" if before else "")]
    for name in ENGINE:
        r, target = report["engine"].get(name), report.get("targets_ms", {}).get(name)
        mark = "" if target is None else f"< {target} ms: {'met' if r['median_ms'] < target else 'missed'}"
        was = f" {before['engine'][name]:.1f} |" if before and name in before["engine"] else (" |" if before else "")
        if r is not None:
            lines.append(f"| {name} | {WHAT[name]} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {mark} |{was}")
    lines += ["", "Steps (median / p95 ms):", ""]
    for name in ENGINE:
        if parts := (report["engine"].get(name) or {}).get("parts"):
            lines.append(f"- {name}: " + ", ".join(f"{k} {v['median_ms']:.1f} / {v['p95_ms']:.1f}" for k, v in parts.items()))
    lines += ["", "A threshold change on each strategy the build tuned (the Thresholds page's *Start from*): moving "
              "the charted threshold (its sweep kept from the page's last draw), and moving another one (the sweep "
              "computed again). Median / p95 ms of Explorer.tuned (apply + groups + summary, the sweep alongside):", "",
              "| strategy | thresholds | charted one moved | another moved |" + (" before: charted / another |" if before else ""),
              "|---|---|---|---|" + ("---|" if before else "")]
    for name, r in report["threshold_change_by_strategy"].items():
        other = f"{r['other']['median_ms']:.1f} / {r['other']['p95_ms']:.1f}" if r["other"] else "(only one)"
        was = before["by_strategy"].get(name) if before else None
        was = f" {was['charted']:.1f} / {was['other']:.1f} |".replace(" / nan", "") if was else (" |" if before else "")
        lines.append(f"| {name} | {r['thresholds']} | {r['charted']['median_ms']:.1f} / {r['charted']['p95_ms']:.1f} | {other} |{was}")
    return lines


def browser_lines(browser: dict | None, engine: float | None = None) -> list[str]:
    if not browser or "skipped" in browser:
        return [browser["skipped"] if browser else "Not measured (run with `--browser`)."]
    lines = ["`streamlit run app.py` in headless Chromium (Playwright), on the same machine as the server. From the "
             "input event (key or pointer down) to the awaited content showing (*shown*), and to the page's last "
             "change before a quiet second (*redrawn*: the rerun drawn, charts included, Streamlit's status widget "
             "gone). Milliseconds.", "", *interaction_table(browser, browser.get("before"))]
    if engine is not None:
        redrawn = browser["slider"]["redrawn"]["median_ms"]
        lines += ["", f"Of the slider's {redrawn:.0f} ms to a redrawn page, the engine's threshold change is "
                  f"{engine:.0f} ms; the rest is Streamlit and the browser: the key event sent over the websocket, "
                  "the Thresholds fragment run (widgets, two plotly figures), and drawing the metrics (*shown*) and "
                  "then the two charts, in a Chromium without a GPU that shares the 2 cores with the server."]
    if variant := browser.get("with_post_script_gc"):
        lines += ["", "The same with Streamlit's default `runner.postScriptGC` on, which `.streamlit/config.toml` "
                  "switches off. By default Streamlit runs a full `gc.collect()` after every script run; it walks "
                  "every Python object the server holds (most of them the imported libraries': pandas, "
                  "scikit-learn, SQLAlchemy, Streamlit) and holds the interpreter meanwhile, so no message leaves "
                  "the server until it ends:", "", *interaction_table(variant)]
    lines += ["", "Every page opened from the sidebar (redrawn, ms; the first opening of a page in a session):", ""]
    for title, info in browser["pages"].items():
        extra = f", Groups CSV downloaded with {info['csv_rows']:,} rows" if "csv_rows" in info else ""
        lines.append(f"- {title}: {info['ms']:.0f} ms, {'no error shown' if not info['problem'] else 'ERROR: ' + info['problem']}{extra}")
    return lines


def interaction_table(browser: dict, before: dict | None = None) -> list[str]:
    lines = ["| interaction | runs | shown median | shown p95 | redrawn median | redrawn p95 |"
             + (" before: shown / redrawn medians |" if before else ""), "|---|---|---|---|---|---|" + ("---|" if before else "")]
    for key, label in INTERACTIONS.items():
        shown, redrawn = browser[key]["shown"], browser[key]["redrawn"]
        was = f" {before[key]['shown']:.0f} / {before[key]['redrawn']:.0f} |" if before else ""
        lines.append(f"| {label} | {shown['runs']} | {shown['median_ms']:.0f} | {shown['p95_ms']:.0f} | "
                     f"{redrawn['median_ms']:.0f} | {redrawn['p95_ms']:.0f} |{was}")
    return lines


def baseline(path: Path, label: str) -> dict:
    """The medians of an earlier report (same command, e.g. before an engine change), to show beside these."""
    old = json.loads(path.read_text(encoding="utf-8"))
    return {"label": label, "command": old["command"],
            "engine": {name: r["median_ms"] for name, r in old["engine"].items()},
            "by_strategy": {name: {"charted": r["charted"]["median_ms"],
                                   "other": r["other"]["median_ms"] if r["other"] else float("nan")}
                            for name, r in old.get("threshold_change_by_strategy", {}).items()},
            "browser": {key: {"shown": old["browser"][key]["shown"]["median_ms"],
                              "redrawn": old["browser"][key]["redrawn"]["median_ms"]} for key in INTERACTIONS}
            if "slider" in old.get("browser", {}) else None}


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def tiled_build(folder: Path, copies: int, root: Path) -> Path:
    """A build `copies` times the size of `folder`'s: its listings and table repeated as disjoint catalogues.

    Copy c's positions are offset by c x listings and its posting ids and label
    groups suffixed "~c", so every listing keeps its real neighbours, real
    similarities and real labels: the app's operations meet a million listings
    with the table's real shape (rows per listing, score distributions), where
    real catalogues run out at 34k. Rule, strategies and fusion are the build's.
    """
    manifest = read_manifest(folder, verify=False)
    listings = pd.read_parquet(folder / "listings.parquet")
    table = pd.read_parquet(folder / "neighbours.parquet")
    n = len(listings)

    def write(out: Path) -> dict:
        suffix = np.repeat([f"~{c}" for c in range(copies)], n)
        tiled = pd.concat([listings] * copies, ignore_index=True)
        for column in ("posting_id", "label_group"):
            tiled[column] = tiled[column].astype(str) + np.where(tiled[column].astype(str) != "", suffix, "")
        tiled.to_parquet(out / "listings.parquet", index=False)
        with pq.ParquetWriter(out / "neighbours.parquet", pa.Schema.from_pandas(table, preserve_index=False)) as writer:
            for c in range(copies):
                part = table.assign(query=table["query"] + np.int32(c * n), candidate=table["candidate"] + np.int32(c * n))
                writer.write_table(pa.Table.from_pandas(part, preserve_index=False))
        for name in ("rule.json", "strategies.json", "fusion.json"):
            if (folder / name).is_file():
                shutil.copy(folder / name, out / name)
        kept = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
        return {**kept, "tiled": {"from": str(folder), "copies": copies, "listings": n * copies},
                "neighbour_pairs": manifest.get("neighbour_pairs", 0) * copies}

    out = root / f"{folder.parent.name}-x{copies}" / "model"
    write_artifacts(out, write)
    print(f"tiled {copies} copies of {folder}: {n * copies:,} listings, {len(table) * copies:,} table rows -> {out}")
    return out


def small_build(work: Path) -> Path:
    from matcher.workspace import ensure_demo

    return ensure_demo(work / "artifacts", listings=150, log=lambda message: None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, help="a built model folder: <artifacts root>/<name>/model")
    parser.add_argument("--small", action="store_true", help="build and measure a 150-listing demo catalogue instead")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app-benchmark", help="report path without suffix")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also measure the app in headless Chromium")
    parser.add_argument("--browser-repeats", type=int, default=15)
    parser.add_argument("--screenshot", type=Path, default=None, help="where to save the Thresholds page (PNG)")
    parser.add_argument("--compare-gc", action="store_true",
                        help="measure the browser part again with Streamlit's default runner.postScriptGC on")
    parser.add_argument("--tile", type=int, default=1,
                        help="measure a catalogue this many times the build's (disjoint copies: see tiled_build)")
    parser.add_argument("--tile-root", type=Path, help="where the tiled build is written (default: a temporary folder)")
    parser.add_argument("--baseline", type=Path, help="an earlier report's .json whose medians to show beside these")
    parser.add_argument("--baseline-label", default="the baseline report", help="what the baseline measured")
    args = parser.parse_args(argv)
    if bool(args.artifacts) == args.small:
        parser.error("give --artifacts FOLDER or --small")
    with tempfile.TemporaryDirectory() as work:
        folder = small_build(Path(work)) if args.small else args.artifacts.resolve()
        if args.tile > 1:
            folder = tiled_build(folder, args.tile, args.tile_root or Path(work) / "tiled")
        if not (folder / "manifest.json").is_file():
            parser.error(f"{folder} is not a build (no manifest.json)")
        report = {"command": shlex.join(argv if argv is not None else sys.argv[1:]), "machine": machine(),
                  "repeats": args.repeats}
        ex, loads = load(folder, max(min(args.repeats, 4), 2))
        engine, report["catalogue"] = engine_benchmark(ex, args.repeats)
        report["engine"] = {"first_open": stats(loads[:1]), "load": stats(loads[1:]), **engine}
        report["targets_ms"] = {name: target for name in ENGINE if (target := target_ms(name, len(ex))) is not None}
        report["threshold_change_by_strategy"] = by_strategy(ex, args.repeats)
        if args.browser:
            report["browser"] = run_browser(folder, probe_words(ex, 8, np.random.default_rng(1)), args)
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        if args.baseline:
            report["baseline"] = baseline(args.baseline, args.baseline_label)
            if report.get("browser", {}).get("slider") and report["baseline"]["browser"]:
                report["browser"]["before"] = report["baseline"]["browser"]
        write(report, args.out)
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


def run_browser(folder: Path, words: list[str], args) -> dict:
    """The browser part, or why it was skipped."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("browser part skipped: Playwright for Python is not installed")
        return {"skipped": "Skipped: Playwright for Python is not installed."}
    if not Path(CHROMIUM).is_file():
        print(f"browser part skipped: {CHROMIUM} is missing (apt-get install -y chromium)")
        return {"skipped": f"Skipped: {CHROMIUM} is missing."}
    if folder.name != "model":
        raise SystemExit(f"the app finds builds at <artifacts root>/<name>/model; {folder} is not one")
    result = browser_benchmark(folder, folder.parent.name, words, args.browser_repeats, args.screenshot)
    if args.compare_gc:
        print("browser: again with Streamlit's default garbage collection after each run")
        result["with_post_script_gc"] = browser_benchmark(folder, folder.parent.name, words, args.browser_repeats,
                                                          None, check=False, extra_env=WITH_GC)
    return result


if __name__ == "__main__":
    sys.exit(main())
