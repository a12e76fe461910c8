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
CELL_STAGES = ("vcf", "parquet", "module-source", "module-hits", "module-table")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A cache made by `make download parquet modules` from the mini mirror (served for the
    whole test module), and the environment the pipeline ran with."""
    site = mirror.build(tmp_path_factory.mktemp("mirror"), scale=0.5)
    cache = tmp_path_factory.mktemp("cache")
    with mirror.MirrorServer(site) as server:
        env = {"CACHE_DIR": str(cache), "BASE_URL": f"{server.url}/", "SPECIES": SPECIES,
               **mirror.module_env(server.url)}
        result = make("download", "parquet", "modules", cache=cache, server=server, **env)
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
        assert set(nodes) >= {"listing", "manifest", "vcf", "parquet", "hub1", "curation", "sqlite", "inputs",
                              "tables", "hub2"}
        assert nodes["parquet"] == "stale" and nodes["vcf"] == "up to date" and nodes["tables"] == "stale"
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
        assert status_el.get_attribute("data-code") != "0" and "(stopped)" in status_el.text
        assert "(stopped)" in driver.find_element("css selector", "#log").text
        wait_for("the cell to leave running", lambda: cell_state(driver, vcf_id) in ("partial", "missing", "failed"),
                 timeout=30)
    finally:
        fault.times = 0
        driver.quit()
        stop_ui(proc)
    assert not vcf.exists()
    row = {r["id"]: r for r in status_json(env)["rows"]}[vcf_id]
    assert row["state"] in ("partial", "missing", "failed"), row
    # nothing is left running in the background
    assert not list((cache / "ensembl" / SPECIES / "vcf").glob(f".{name}.*.tmp"))
