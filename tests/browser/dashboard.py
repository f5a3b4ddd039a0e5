#!/usr/bin/env python3
"""Browser tests of the dashboard: Debian's Chromium driven by Playwright
(the Python package, with executable_path: no browser download).

Starts its own upwatch (every role, a fresh database and key prefix, a free
port) and an HTTP target whose status the tests flip, then checks what a user
sees: the overview lists the monitors, a flipped target changes on the page
without a reload, pause by its accessible name pauses, the form adds a
monitor and shows a 422's message by its field, the monitor page draws its
chart. Every request to a host other than upwatch is refused and counted.
Screenshots go to target/screenshots/.

    python3 tests/browser/dashboard.py [--binary target/release/upwatch]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "screenshots"
CHROMIUM = os.environ.get("UPWATCH_CHROMIUM", "/usr/bin/chromium")
PATIENCE_MS = 15_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """/health answers with the status the test sets."""

    def __init__(self):
        self.status = 200
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(target.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


class Upwatch:
    def __init__(self, binary, extra=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        suffix = uuid.uuid4().hex[:12]
        self.database = f"upwatch_browser_{suffix}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPWATCH_")}
        env.update({
            "UPWATCH_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.database}",
            "UPWATCH_KEY_PREFIX": f"upwatch-browser-{suffix}",
            "UPWATCH_BIND": f"127.0.0.1:{self.port}",
            "UPWATCH_PARTITIONS": "4",
        })
        env.update(extra or {})
        self.log = open(ROOT / "target" / "browser-upwatch.log", "w")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("upwatch did not become ready")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
                        f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)", "postgres"],
                       check=False, capture_output=True)


def wait_until(what, check, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "upwatch"))
    args = parser.parse_args()
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = Target()
    upwatch = Upwatch(args.binary)
    foreign = []
    try:
        ids = {}
        for name in ["checkout", "payments", "search"]:
            status, monitor = upwatch.call("POST", "/api/v1/monitors", {
                "name": name, "url": target.url(f"/health?{name}"), "interval_seconds": 1,
                "timeout_ms": 500, "failure_threshold": 1, "tags": ["prod"]})
            assert status == 201, monitor
            ids[name] = monitor["id"]
        wait_until("every monitor up", lambda: all(
            upwatch.call("GET", f"/api/v1/monitors/{i}")[1]["status"] == "up" for i in ids.values()))

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def guard(route):
                host = route.request.url.split("/")[2]
                if host == f"127.0.0.1:{upwatch.port}":
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # The overview lists the monitors with their status.
            page.goto(upwatch.base + "/")
            table = page.get_by_role("table", name="Monitors")
            for name in ids:
                expect(table.get_by_role("link", name=name)).to_be_visible(timeout=PATIENCE_MS)
            row = table.locator(f'tr[data-monitor-id="{ids["checkout"]}"]')
            expect(row.locator(".status")).to_have_text("up", timeout=PATIENCE_MS)
            expect(page.locator('[data-count="total"] strong')).to_have_text("3")
            page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
            print("ok: the overview lists the monitors")

            # A flipped target changes on the page without a reload.
            page.evaluate("window.__notReloaded = true")
            target.status = 503
            expect(row.locator(".status")).to_have_text("down", timeout=PATIENCE_MS)
            assert page.evaluate("window.__notReloaded === true"), "the page reloaded"
            target.status = 200
            expect(row.locator(".status")).to_have_text("up", timeout=PATIENCE_MS)
            print("ok: transitions appear live, without a reload")

            # Pause from the page, found by its accessible name.
            page.get_by_role("button", name="Pause payments").click()
            wait_until("payments paused", lambda: upwatch.call("GET", f"/api/v1/monitors/{ids['payments']}")[1]["paused"])
            expect(page.get_by_role("button", name="Resume payments")).to_be_visible()
            expect(table.locator(f'tr[data-monitor-id="{ids["payments"]}"] .status')).to_have_text("paused")
            print("ok: pause from the page pauses the monitor")

            # The form shows the API's validation message by its field, then adds.
            page.get_by_label("Name").fill("inventory")
            page.get_by_label("URL").fill("ftp://not-a-web-url")
            page.get_by_role("button", name="Add monitor").click()
            error = page.locator('[data-error-for="url"]')
            expect(error).to_contain_text("url", timeout=PATIENCE_MS)
            page.screenshot(path=str(SHOTS / "form-error.png"))
            page.get_by_label("URL").fill(target.url("/health?inventory"))
            page.get_by_role("button", name="Add monitor").click()
            expect(table.get_by_role("link", name="inventory")).to_be_visible(timeout=PATIENCE_MS)
            print("ok: the form shows a 422's message, then adds the monitor")

            # Search by name narrows the list on the server.
            page.get_by_label("Search monitors").fill("pay")
            expect(table.get_by_role("link")).to_have_count(1, timeout=PATIENCE_MS)
            page.get_by_label("Search monitors").fill("")
            expect(table.get_by_role("link")).to_have_count(4, timeout=PATIENCE_MS)

            # A monitor's page draws its chart, uptime, results and timeline.
            table.get_by_role("link", name="checkout").click()
            expect(page.get_by_role("heading", name="checkout")).to_be_visible(timeout=PATIENCE_MS)
            chart = page.get_by_role("img", name="Latency p50 and p95 over the last 24 hours")
            expect(chart).to_be_visible(timeout=PATIENCE_MS)
            assert chart.locator('path[data-series="latency_ms_p50"]').get_attribute("d").startswith("M")
            expect(page.get_by_role("table", name="Recent results").locator("tbody tr").first).to_be_visible()
            expect(page.locator(".timeline li").first).to_contain_text("by ")
            expect(page.locator(".timeline")).to_contain_text("anonymous")
            page.get_by_role("button", name="Show state").click()
            expect(page.locator("pre")).to_contain_text("changed by", timeout=PATIENCE_MS)
            page.screenshot(path=str(SHOTS / "monitor.png"), full_page=True)
            print("ok: the monitor page draws its chart, results, events and audit state")

            assert not errors, f"errors on the page: {errors}"
            browser.close()
        token_prompt(args.binary)
        assert not foreign, f"requests to other hosts: {foreign}"
        print("ok: no request left upwatch")
    finally:
        upwatch.stop()
        target.server.shutdown()


def token_prompt(binary):
    """With auth on, the page asks for a token, then shows the monitors."""
    secret = "uw_browser-test-bootstrap-token-" + uuid.uuid4().hex
    guarded = Upwatch(binary, {"UPWATCH_AUTH": "tokens", "UPWATCH_BOOTSTRAP_TOKEN": secret, "UPWATCH_ROLES": "api"})
    try:
        request = urllib.request.Request(f"{guarded.base}/api/v1/monitors", method="POST",
                                         data=json.dumps({"name": "guarded", "url": "https://a.example/"}).encode(),
                                         headers={"content-type": "application/json", "authorization": f"Bearer {secret}"})
        urllib.request.urlopen(request, timeout=10).read()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(guarded.base + "/")
            dialog = page.get_by_role("dialog", name="This upwatch needs a token")
            expect(dialog).to_be_visible(timeout=PATIENCE_MS)
            page.get_by_label("API token").fill(secret)
            page.get_by_role("button", name="Use this token").click()
            expect(page.get_by_role("link", name="guarded")).to_be_visible(timeout=PATIENCE_MS)
            expect(page.locator("#live")).to_have_text("live", timeout=PATIENCE_MS)
            browser.close()
        print("ok: with auth on, the page asks for a token, then shows the monitors and goes live")
    finally:
        guarded.stop()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
