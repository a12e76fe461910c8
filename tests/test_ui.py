"""The local web page (`just ui`) driven as a person would, in a real headless Chromium
(Debian's chromium + chromium-driver through Selenium), on a cache built by real `make`
runs against the mini mirror served on 127.0.0.1; and `make report`'s one HTML file.

Without Chromium the browser test is skipped with how to install it, except under
CI=true, where it fails (`.ci/run` installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import mirror
from helpers import make, output

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
JUST = ROOT / ".venv" / "bin" / "just"
SPECIES = "homo_sapiens"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--window-size=1400,1000"]
CELL_STAGES = ("vcf", "parquet", "lm-hits", "lm-table")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A cache made by `make download parquet longevitymap` from the mini mirror (served
    for the whole module), and the environment the pipeline ran with."""
    site = mirror.build(tmp_path_factory.mktemp("mirror"), scale=0.5)
    cache = tmp_path_factory.mktemp("cache")
    with mirror.MirrorServer(site) as server:
        env = {"CACHE_DIR": str(cache), "BASE_URL": f"{server.url}/", "SPECIES": SPECIES,
               "LONGEVITYMAP_URL": f"{server.url}/longevitymap/longevitymap.sqlite"}
        result = make("download", "parquet", "longevitymap", cache=cache, server=server,
                      SPECIES=SPECIES, LONGEVITYMAP_URL=env["LONGEVITYMAP_URL"])
        assert result.returncode == 0, output(result)
        yield cache, env, server


def run_env(env: dict, **extra: str) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    full.update(env, **extra)
    return full


def status_json(env: dict) -> dict:
    result = subprocess.run([PY, str(ROOT / "scripts" / "status.py"), "--json"], env=run_env(env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser():
    """A headless Chromium driven through the system chromedriver (never downloaded)."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        message = (f"Chromium not found ({CHROMIUM}, {CHROMEDRIVER}); install it with "
                   "`sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: the browser test must run. {message}")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(what, check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def request(url: str, method: str = "GET", body: dict | None = None, **headers: str) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                         **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def start_ui(env: dict, port: int) -> tuple[subprocess.Popen, str]:
    """`just ui` (the real recipe) on ``port``; returns the process and its URL."""
    proc = subprocess.Popen([str(JUST), "--justfile", str(ROOT / "justfile"), "ui"], cwd=ROOT,
                            env=run_env(env, UI_PORT=str(port)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, f"just ui exited: {proc.stdout.read()}"
        try:
            with urllib.request.urlopen(url + "/api/run", timeout=2):
                return True
        except OSError:
            return False
    wait_for("just ui to answer", up, timeout=30)
    return proc, url


def stop_ui(proc: subprocess.Popen) -> str:
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def page_states(driver) -> dict[str, str]:
    return driver.execute_script(
        "const o = {}; for (const c of document.querySelectorAll('#graph [data-id]')) "
        "o[c.dataset.id] = c.dataset.state; return o;")


def cell_state(driver, row_id: str) -> str | None:
    """The state drawn on a cell, read afresh (the graph is redrawn when status changes)."""
    return page_states(driver).get(row_id)


def test_ui_refuses_what_another_page_or_the_allow_list_would_not_allow(built):
    """No browser needed: the server itself refuses cross-origin and token-less POSTs,
    targets outside the allow-list, unknown jobs, bad species, an unconfirmed upload and
    a foreign Host; a second run while one is going gets "busy"; Stop ends the run."""
    cache, env, server = built
    sdir = cache / "ensembl" / SPECIES
    name = f"{SPECIES}-chrX.vcf.gz"
    proc, url = start_ui(env, free_port())
    try:
        with urllib.request.urlopen(url + "/", timeout=30) as resp:
            html = resp.read().decode()
            csp = resp.headers["Content-Security-Policy"]
        token = json.loads(re.search(r'<script type="application/json" id="ui-config">(.*?)</script>',
                                     html, re.S).group(1))["token"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        api, origin = url + "/api/run", {"Origin": url}
        job = {"job": "verify", "species": SPECIES}
        assert request(api, "POST", job, Origin="http://evil.example", **{"X-UI-Token": token})[0] == 403
        assert request(api, "POST", job, **{"Sec-Fetch-Site": "cross-site", "X-UI-Token": token})[0] == 403
        assert request(api, "POST", job, **{"X-UI-Token": token})[0] == 403           # no Origin at all
        assert request(api, "POST", job, **origin)[0] == 403                           # no token
        assert request(api, "POST", job, **origin, **{"X-UI-Token": "x" + token})[0] == 403
        assert request(url + "/api/stop", "POST", {}, Origin="http://evil.example", **{"X-UI-Token": token})[0] == 403
        auth = {**origin, "X-UI-Token": token}
        target = sdir / f"{SPECIES}-chr21.parquet"
        for outside in (str(sdir / "steps.jsonl"), "clean", "/etc/passwd", str(target) + " FORCE=1",
                        str(cache / "modules" / "longevitymap" / "weights.parquet"), ["x"]):
            code, answer = request(api, "POST", {"target": outside, "species": SPECIES}, **auth)
            assert code == 403 and "not one of" in answer["error"], (outside, code, answer)
        assert request(api, "POST", {"job": "rm -rf /", "species": SPECIES}, **auth)[0] == 400
        assert request(api, "POST", {"job": "parquet", "species": "../x"}, **auth)[0] == 400
        assert request(api, "POST", {"job": "parquet", "target": str(target)}, **auth)[0] == 400
        code, answer = request(api, "POST", {"job": "upload", "species": SPECIES}, **auth)
        assert code == 400 and "confirm" in answer["error"]
        assert request(url + "/", Host="evil.example:80")[0] == 403                    # DNS rebinding
        assert request(url + "/api/status", Host="evil.example")[0] == 403
        assert request(api)[1] == {"run": None}                                         # nothing was started

        # one run at a time: a download that stalls is running; a second request is busy
        (sdir / "vcf" / name).unlink()
        fault = server.add_fault(f"/{SPECIES}/{name}", "stall", times=None, after=1000, seconds=60)
        try:
            code, answer = request(api, "POST", {"job": "download", "species": SPECIES}, **auth)
            assert code == 202 and answer["run"]["label"] == "download", answer
            code, answer = request(api, "POST", {"target": str(target), "species": SPECIES}, **auth)
            assert code == 409 and answer["error"].startswith("busy"), (code, answer)
            assert request(url + "/api/stop", "POST", {}, **auth) == (200, {"stopped": True})
            run = wait_for("the stopped run to end", lambda: (r := request(api)[1]["run"]) and r["done"] and r)
            assert run["stopped"] and run["code"] != 0
            saved = json.loads((cache / "runs" / f"{run['run_id']}.json").read_text())
            assert saved["stopped"] and saved["done"] and saved["label"] == "download"
            assert (cache / "runs" / f"{run['run_id']}.log").read_text().splitlines()[-1].startswith("stopped after")
        finally:
            fault.times = 0
        assert not (sdir / "vcf" / name).exists()
    finally:
        out = stop_ui(proc)
    assert "UI: stopped" in out
    # put the VCF back for the other tests
    result = make("download", cache=cache, server=server, SPECIES=SPECIES)
    assert result.returncode == 0, output(result)


def test_ui_in_a_browser_runs_one_parquet(built, tmp_path):
    cache, env, _ = built
    sdir = cache / "ensembl" / SPECIES
    target = sdir / f"{SPECIES}-chr21.parquet"
    target_id = str(target.relative_to(cache))
    # one Parquet gone (missing), another one's VCF touched (stale: VCF newer)
    target.unlink()
    os.utime(sdir / "vcf" / f"{SPECIES}-chr19.vcf.gz")
    expected = status_json(env)
    states = {r["id"]: r["state"] for r in expected["rows"]}
    assert states[target_id] == "missing"
    assert states[f"ensembl/{SPECIES}/{SPECIES}-chr19.parquet"] == "stale"

    driver = browser()
    proc, url = start_ui(env, free_port())
    try:
        driver.get(url + "/")
        cells = {r["id"]: r["state"] for r in expected["rows"] if r["stage"] in CELL_STAGES}
        shown = wait_for("the partitions to render", lambda: (s := page_states(driver)) and len(s) == len(cells) and s)
        assert shown == cells  # every cell has status.py's state
        nodes = driver.execute_script(
            "const o = {}; for (const g of document.querySelectorAll('#graph [data-node]')) "
            "o[g.dataset.node] = g.dataset.state || null; return o;")
        assert set(nodes) >= {"listing", "manifest", "vcf", "parquet", "hub-ensembl", "curation", "lm-source",
                              "lm-inputs", "lm-hits", "lm-table", "hub-modules"}
        assert nodes["parquet"] == "stale" and nodes["vcf"] == "up to date" and nodes["lm-table"] == "stale"
        rows_text = driver.find_element("css selector", "#rows").text
        assert "homo_sapiens-chr21.parquet" in rows_text and "VCF newer" in rows_text
        assert "vcf2parquet" in driver.find_element("css selector", "#resources").text

        # --- click the chromosome's cell, then its button that runs `make <parquet>`
        driver.find_element("css selector", f'#graph [data-id="{target_id}"]').click()
        button = wait_for("the run button", lambda: driver.find_elements("css selector", "#run-target"))[0]
        assert button.get_attribute("data-target") == str(target)
        button.click()
        status_el = driver.find_element("css selector", "#run-status")
        wait_for("the run to start", lambda: status_el.get_attribute("data-state") in ("running", "ok"))
        log = driver.find_element("css selector", "#log")
        summary = re.compile(rf"-> {SPECIES}-chr21\.parquet: [\d,]+ rows")
        wait_for("the converter's summary line in the live log", lambda: summary.search(log.text), timeout=90)
        wait_for("exit status 0", lambda: status_el.get_attribute("data-code") == "0", timeout=60)
        wait_for("the cell to turn up to date", lambda: cell_state(driver, target_id) == "up to date", timeout=30)
        assert "make " in log.text and str(target) in log.text and "exit status 0" in log.text
        after = {r["id"]: r for r in status_json(env)["rows"]}
        assert after[target_id]["state"] == "up to date" and after[target_id]["rows"] > 0
        assert page_states(driver)[f"ensembl/{SPECIES}/{SPECIES}-chr19.parquet"] == "stale"

        # --- the runs view: this run (from the page) with its result, duration and a log link
        label = f"make {SPECIES}-chr21.parquet"
        row = wait_for("the run in the runs view", lambda: driver.execute_script(
            "for (const tr of document.querySelectorAll('#runs tr[data-run]')) if (tr.cells[0].textContent.startsWith("
            "arguments[0])) return [tr.dataset.run, tr.dataset.result, tr.cells[2].textContent, "
            "tr.querySelector('a').href]; return null;", label), timeout=20)
        run_id, result, took, link = row
        assert result == "ok" and took.endswith(" s"), row
        with urllib.request.urlopen(link, timeout=10) as resp:
            text = resp.read().decode()
        assert text.startswith("$ make") and summary.search(text) and "exit status 0" in text, text[:500]
        cli = subprocess.run([PY, str(ROOT / "scripts" / "runs.py"), "--json"], env=run_env(env), capture_output=True,
                             text=True, timeout=60)
        runs = json.loads(cli.stdout)
        mine = [r for r in runs if r["id"] == run_id]
        assert mine and mine[0]["result"] == "ok" and mine[0]["label"] == label and mine[0]["steps"] >= 1, runs[:3]
        # the command-line runs of the fixture are there too, one run per make (its steps grouped)
        assert any(r["label"] == "make download parquet longevitymap" and r["steps"] > 5 for r in runs), runs

        shot = tmp_path / "ui.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"\nscreenshot of the page: {shot}")
        if os.environ.get("UI_SCREENSHOT"):
            shutil.copy(shot, os.environ["UI_SCREENSHOT"])

        # --- the report: the same page as one file, no server, no run buttons
        report = tmp_path / "report.html"
        result = make("report", f"REPORT={report}", cache=cache, **{k: v for k, v in env.items() if k != "CACHE_DIR"})
        assert result.returncode == 0, output(result)
        driver.get(report.as_uri())
        shown = wait_for("the report's partitions", lambda: (s := page_states(driver)) and len(s) == len(cells) and s)
        assert shown[target_id] == "up to date"
        assert not driver.find_element("css selector", "#jobs").is_displayed()
        assert driver.find_elements("css selector", "#graph [data-node]")
    finally:
        driver.quit()
        out = stop_ui(proc)
    # Ctrl-C stops the server cleanly (just itself reports the SIGINT as 130)
    assert "UI: stopped" in out and proc.returncode in (0, 130), out


def test_report_is_one_self_contained_file_matching_status(built, tmp_path):
    cache, env, _ = built
    report = tmp_path / "out" / "report.html"
    extra = {k: v for k, v in env.items() if k != "CACHE_DIR"}
    result = make("report", f"REPORT={report}", cache=cache, **extra)
    assert result.returncode == 0, output(result)
    text = report.read_text()
    want = status_json(env)
    # no resource from anywhere else: no src/href/url() to http(s), a CSP that allows none
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text, re.I)
    assert "<link" not in text and "default-src 'none'" in text
    assert not re.search(r"<script[^>]*\ssrc=", text, re.I)
    embedded = re.search(r'<script type="application/json" id="ui-config">(.*?)</script>', text, re.S)
    ui = json.loads(embedded.group(1))
    assert ui["mode"] == "report" and "token" not in ui
    got = ui["data"][SPECIES]
    for doc in (got, want):
        doc.pop("generated")
    assert got == want
    # the default place: <cache>/report.html
    result = make("report", cache=cache, **extra)
    assert result.returncode == 0, output(result)
    assert (cache / "report.html").stat().st_size > 10_000


def test_ui_stop_interrupts_a_run_like_ctrl_c(built, tmp_path):
    """A download that hangs (the mirror stalls mid-file) shows as running; Stop sends
    SIGINT to the run's process group: the fetch keeps its .part for a resume, no
    finished-looking VCF is left, and the page says the run was stopped."""
    cache, env, server = built
    name = f"{SPECIES}-chrMT.vcf.gz"
    vcf = cache / "ensembl" / SPECIES / "vcf" / name
    vcf_id = str(vcf.relative_to(cache))
    vcf.unlink()
    fault = server.add_fault(f"/{SPECIES}/{name}", "stall", times=None, after=1000, seconds=60)
    driver = browser()
    proc, url = start_ui(env, free_port())
    try:
        driver.get(url + "/")
        wait_for("the missing VCF", lambda: cell_state(driver, vcf_id) == "missing")
        driver.find_element("css selector", '#jobs [data-job="download"]').click()
        wait_for("the cell to show the download running", lambda: cell_state(driver, vcf_id) == "running",
                 timeout=60)
        stop = driver.find_element("css selector", "#stop")
        assert stop.is_enabled()
        stop.click()
        status_el = driver.find_element("css selector", "#run-status")
        wait_for("the run to end", lambda: status_el.get_attribute("data-code") not in (None, ""), timeout=60)
        # a Stop is shown as stopped (neutral), not as a failure with an exit status
        assert status_el.get_attribute("data-state") == "stopped", status_el.get_attribute("data-state")
        assert status_el.text.startswith("download: stopped after") and "exit status" not in status_el.text
        assert "stopped after" in driver.find_element("css selector", "#log").text
        background = driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", status_el)
        assert background == "rgb(238, 240, 243)", background  # the neutral colour, not red
        wait_for("the cell to leave running", lambda: cell_state(driver, vcf_id) in ("partial", "missing"), timeout=30)
        row = wait_for("the stopped run in the runs view", lambda: driver.execute_script(
            "const tr = document.querySelector('#runs tr[data-run]'); return tr && tr.cells[0].textContent"
            ".startsWith('download') && tr.dataset.result;"), timeout=20)
        assert row == "stopped"
    finally:
        fault.times = 0
        driver.quit()
        stop_ui(proc)
    assert not vcf.exists()
    row = {r["id"]: r for r in status_json(env)["rows"]}[vcf_id]
    assert row["state"] in ("partial", "missing") and "last run stopped" in row["reason"], row
    # nothing is left running in the background
    assert not list((cache / "ensembl" / SPECIES / "vcf").glob(f".{name}.*.tmp"))


# --- the page as a tool: two widths, accessibility, keyboard, layout, races ---------------------

AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # npm ci (make test), pinned


def axe_violations(driver) -> list[dict]:
    """axe-core's violations on the page as it is (impact, rule, how many nodes, two of them)."""
    if not AXE.is_file():
        message = f"{AXE} is missing: `make test` installs it with npm ci from tests/axe/package-lock.json"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: the accessibility check must run. {message}")
        pytest.skip(message)
    driver.execute_script(AXE.read_text())
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, "
        "nodes: v.nodes.length, where: v.nodes.slice(0, 2).map((n) => n.target.join(' '))}))),"
        " (e) => done([{id: 'axe failed', impact: 'critical', nodes: 0, where: [String(e)]}]));")


GEOMETRY = """
const out = {overflow: [], crossings: [], backwards: [], corners: []};
const boxes = {};
for (const g of document.querySelectorAll('#graph [data-node]')) {
  const r = g.querySelector('rect.box').getBBox();
  boxes[g.dataset.node] = r;
  for (const t of g.querySelectorAll('.hit text')) {
    const b = t.getBBox();
    if (b.x < r.x || b.x + b.width > r.x + r.width - 2) out.overflow.push([g.dataset.node, t.textContent]);
  }
  for (const c of g.querySelectorAll('.cell')) {
    const rb = c.querySelector('rect').getBBox(), tb = c.querySelector('text').getBBox();
    if (tb.x < rb.x || tb.x + tb.width > rb.x + rb.width) out.overflow.push([c.dataset.id, c.textContent]);
  }
}
const paths = [];
for (const p of document.querySelectorAll('#graph path.edge')) {
  const [a, b] = p.dataset.edge.split('>');
  const n = p.getTotalLength(), pts = [];
  for (let i = 0; i <= 24; i++) { const q = p.getPointAtLength(n * i / 24); pts.push([q.x, q.y]); }
  paths.push([a, b, pts]);
  const end = pts[pts.length - 1], start = pts[0], t = boxes[b];
  if (end[0] <= start[0]) out.backwards.push(p.dataset.edge);
  if (Math.abs(end[0] - t.x) > 2 || end[1] < t.y + t.height * 0.2 || end[1] > t.y + t.height * 0.8) out.corners.push(p.dataset.edge);
}
const cross = (p, q, r, s) => {
  const d = (a, b, c) => (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  return d(p, q, r) * d(p, q, s) < 0 && d(r, s, p) * d(r, s, q) < 0;
};
for (let i = 0; i < paths.length; i++) for (let j = i + 1; j < paths.length; j++) {
  const [a1, b1, P] = paths[i], [a2, b2, Q] = paths[j];
  if (a1 === a2 || b1 === b2 || a1 === b2 || b1 === a2) continue;
  let hit = false;
  for (let k = 0; k < P.length - 1 && !hit; k++) for (let m = 0; m < Q.length - 1 && !hit; m++) hit = cross(P[k], P[k + 1], Q[m], Q[m + 1]);
  if (hit) out.crossings.push([a1 + '>' + b1, a2 + '>' + b2]);
}
out.scroll = [document.documentElement.scrollWidth, window.innerWidth];
out.graph = [document.querySelector('#graph').scrollWidth, document.querySelector('#graph').clientWidth];
return out;
"""


def shots_dir(tmp_path: Path) -> Path:
    """Where the screenshots go: UI_SCREENSHOTS=dir keeps them, else the test's directory."""
    out = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_page_at_1440_and_390_accessible_keyboard_and_laid_out(built, tmp_path):
    """The page at 1440x900 and 390x844: screenshots, axe-core with no serious or critical
    violation, no sideways scroll of the page at 390 (the graph scrolls in its box), labels
    inside their boxes and cells, edges left to right and uncrossed, arrows on the middle
    of a side, a legend for every style, the log box hidden while idle, and a cell reached
    with Tab that shows a focus ring and opens its details with Enter."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    cache, env, _ = built
    os.utime(cache / "ensembl" / SPECIES / "vcf" / f"{SPECIES}-chr19.vcf.gz")  # a stale state on the page
    mouse = cache / "ensembl" / "mus_musculus"
    mouse.mkdir()  # a second species to switch to (nothing built for it)
    driver = browser()
    proc, url = start_ui(env, free_port())
    out = shots_dir(tmp_path)
    try:
        for width, height in ((1440, 900), (390, 844)):
            driver.set_window_size(width, height)
            driver.get(url + "/")
            wait_for("the graph", lambda: len(page_states(driver)) > 8)
            assert not driver.find_element("css selector", "#log").is_displayed()  # idle: no empty log box
            shot = out / f"ui-{width}.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            print(f"\nscreenshot {width}x{height}: {shot}")
            bad = [v for v in axe_violations(driver) if v["impact"] in ("serious", "critical")]
            assert bad == [], bad
            geo = driver.execute_script(GEOMETRY)
            assert geo["overflow"] == [] and geo["backwards"] == [] and geo["corners"] == [], geo
            assert geo["crossings"] == [], geo["crossings"]
            assert geo["scroll"][0] <= geo["scroll"][1], f"the page scrolls sideways at {width} px: {geo['scroll']}"
            if width == 390:
                assert geo["graph"][0] > geo["graph"][1]  # the graph scrolls inside its box
                table = driver.find_element("css selector", "#rows")
                assert table.find_element("css selector", ".badge").is_displayed()  # the state column is there
        legend = driver.find_element("css selector", "#legend").text
        for word in ("failed", "running", "partial", "stale", "missing", "up to date", "dashed", "made from"):
            assert word in legend, legend
        # chromosome labels are at least 11 px
        sizes = driver.execute_script("return Array.from(document.querySelectorAll('#graph .cell text'))"
                                      ".map((t) => parseFloat(getComputedStyle(t).fontSize));")
        assert sizes and min(sizes) >= 11, sizes

        # keyboard: Tab from the element before a cell reaches it, with a visible ring; Enter opens it
        driver.set_window_size(1440, 900)
        cell_id = f"ensembl/{SPECIES}/{SPECIES}-chr21.parquet"
        driver.execute_script("""
            const cells = Array.from(document.querySelectorAll('#graph [tabindex="0"]'));
            const i = cells.findIndex((c) => c.dataset.id === arguments[0]);
            cells[i - 1].focus();""", cell_id)
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = driver.switch_to.active_element
        assert focused.get_attribute("data-id") == cell_id
        ring = driver.execute_script("const r = arguments[0].querySelector('rect'); return [arguments[0].matches("
                                     "':focus-visible'), getComputedStyle(r).strokeWidth, getComputedStyle(r).stroke];",
                                     focused)
        assert ring[0] and ring[1] == "3px" and ring[2] == "rgb(11, 87, 208)", ring
        focused.send_keys(Keys.ENTER)
        details = wait_for("the details of the cell", lambda: driver.find_elements(
            "css selector", f'#details-body [data-details="{cell_id}"]'))
        assert "up to date" in details[0].text and "Make target" in details[0].text
        # after switching species the details say what to do, not nothing
        Select(driver.find_element("css selector", "#species")).select_by_value("mus_musculus")
        wait_for("the mouse page", lambda: driver.execute_script("return document.querySelector('#meta').textContent"
                                                                 ".includes('status')") and not page_states(driver))
        assert "Click a box" in driver.find_element("css selector", "#details-body").text
        assert driver.find_elements("css selector", '#graph [data-node="lm-table"]') == []  # modules are human only
    finally:
        driver.quit()
        stop_ui(proc)
        mouse.rmdir()


def test_a_status_reply_older_than_the_last_event_is_never_applied(built):
    """The race of the report: a status reply asked for while a run was going arrives after
    the run's end event. Every status reply is held 4 s on purpose (in the page's fetch);
    the page must end on "done", not go back to "running"."""
    cache, env, server = built
    name = f"{SPECIES}-chrX.vcf.gz"
    vcf = cache / "ensembl" / SPECIES / "vcf" / name
    vcf.unlink()
    fault = server.add_fault(f"/{SPECIES}/{name}", "delay", times=1, seconds=3)
    driver = browser()
    proc, url = start_ui(env, free_port())
    try:
        driver.get(url + "/")
        wait_for("the missing VCF", lambda: page_states(driver).get(f"ensembl/{SPECIES}/vcf/{name}") == "missing")
        driver.execute_script("""
            const real = window.fetch;
            window.heldReplies = 0;
            window.fetch = async (u, o) => {
              const reply = await real(u, o);
              if (String(u).startsWith('/api/status')) { window.heldReplies++; await new Promise((r) => setTimeout(r, 4000)); }
              return reply;
            };""")
        driver.find_element("css selector", '#jobs [data-job="download"]').click()
        status_el = driver.find_element("css selector", "#run-status")
        wait_for("the run's end", lambda: status_el.get_attribute("data-state") == "ok", timeout=60)
        # the replies asked for while the download ran arrive now, each older than the end event
        time.sleep(6)
        assert driver.execute_script("return window.heldReplies") >= 2
        assert status_el.get_attribute("data-state") == "ok", status_el.text
        assert driver.find_element("css selector", "#stop").get_attribute("disabled") is not None
        assert int(driver.execute_script("return document.body.dataset.discarded || 0")) >= 1
        assert driver.find_element("css selector", '#jobs [data-job="verify"]').is_enabled()
        wait_for("the cell to show the new VCF", lambda: cell_state(driver, f"ensembl/{SPECIES}/vcf/{name}") == "up to date",
                 timeout=30)
    finally:
        fault.times = 0
        driver.quit()
        stop_ui(proc)
    assert vcf.exists()


def test_an_upload_refused_for_want_of_a_token_leaves_the_hub_box_neutral(built):
    """`upload` from the page without a token: the run says refused, the Hub box is not
    red (issue 16.5), and the runs view shows a refusal."""
    cache, env, server = built
    result = make("parquet", cache=cache, server=server, SPECIES=SPECIES)  # the set is ready: only the token lacks
    assert result.returncode == 0, output(result)
    driver = browser()
    proc, url = start_ui(run_env(env, HF_HOME=str(cache / "no-hf-home"), HF_HUB_OFFLINE="1"), free_port())
    try:
        driver.get(url + "/")
        wait_for("the graph", lambda: len(page_states(driver)) > 8)
        driver.find_element("css selector", '#jobs [data-job="upload"]').click()
        driver.switch_to.alert.accept()  # "publish for real?"
        status_el = driver.find_element("css selector", "#run-status")
        wait_for("the run's end", lambda: status_el.get_attribute("data-code") not in (None, ""), timeout=60)
        wait_for("the run shown as refused", lambda: status_el.get_attribute("data-state") == "refused", timeout=20)
        assert "refused, nothing was attempted" in status_el.text
        assert "no Hugging Face token" in driver.find_element("css selector", "#log").text
        hub = lambda: driver.execute_script(  # noqa: E731
            "const g = document.querySelector('#graph [data-node=\"hub-ensembl\"]'); return g && g.dataset.state;")
        wait_for("the Hub box to show the refusal", lambda: hub() != "ext", timeout=20)
        assert hub() == "refused", hub()
        tip = driver.execute_script("return document.querySelector('#graph [data-node=\"hub-ensembl\"] title').textContent")
        assert "refused: no Hugging Face token" in tip, tip
        result = wait_for("the run in the runs view", lambda: driver.execute_script(
            "const tr = document.querySelector('#runs tr[data-run]'); return tr && tr.cells[0].textContent"
            ".startsWith('upload') && tr.dataset.result;"), timeout=20)
        assert result == "refused"
    finally:
        driver.quit()
        stop_ui(proc)
