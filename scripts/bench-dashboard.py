#!/usr/bin/env python3
"""The dashboard at scale (BENCHMARKS.md, "Dashboard"): with N monitors, the
time from navigation to the first rows, the page's DOM size, the bytes it
transferred, and the delay from a transition's event to its change on the
page. Debian's Chromium, driven by Playwright (executable_path).

    upwatch-bench dashboard --monitors 10000      # runs this script
"""

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from dashboard import CHROMIUM, Target, Upwatch, wait_until  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--binary", default="target/release/upwatch")
    parser.add_argument("--flips", type=int, default=5)
    args = parser.parse_args()
    target = Target()
    upwatch = Upwatch(args.binary)
    try:
        # The flipped monitor first: the first page is in id order.
        flipped = {"name": "flipped", "url": target.url("/health?flipped"), "interval_seconds": 1,
                   "timeout_ms": 500, "failure_threshold": 1}
        fleet = [flipped] + [
            {"name": f"svc-{n:06}", "url": target.url(f"/health?{n}"), "interval_seconds": 3600, "tags": ["bench"]}
            for n in range(args.monitors - 1)
        ]
        started = time.time()
        status, plan = upwatch.call("POST", "/api/v1/apply", {"monitors": fleet})
        assert status == 200, plan
        registered = time.time() - started
        _, page = upwatch.call("GET", "/api/v1/monitors?name=flipped")
        flipped_id = page["items"][0]["id"]
        wait_until("the flipped monitor up", lambda: upwatch.call("GET", f"/api/v1/monitors/{flipped_id}")[1]["status"] == "up", 60)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            transferred = []
            page.on("requestfinished", lambda r: transferred.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]))
            page.goto(upwatch.base + "/", wait_until="commit")
            page.wait_for_selector(f'tr[data-monitor-id="{flipped_id}"] .status')
            first_rows_ms = page.evaluate("performance.now()")
            page.wait_for_selector(".bar span", timeout=30_000)
            page.wait_for_load_state("networkidle")
            dom_nodes = page.evaluate("document.getElementsByTagName('*').length")
            total = page.evaluate("document.querySelector('[data-count=total] strong').textContent")
            assert int(total) == args.monitors, total
            bytes_in = sum(transferred)

            page.evaluate("""id => {
                window.__changes = [];
                const cell = document.querySelector(`tr[data-monitor-id="${id}"] td`);
                new MutationObserver(() => window.__changes.push([Date.now(), cell.textContent])).observe(cell, {subtree: true, childList: true, characterData: true});
            }""", flipped_id)
            delays = []
            for flip in range(args.flips):
                wanted = "down" if flip % 2 == 0 else "up"
                target.status = 503 if wanted == "down" else 200
                seen = wait_until(f"the page to show {wanted}", lambda: next(
                    (at for at, text in page.evaluate("window.__changes") if text == wanted), None), 30)
                _, events = upwatch.call("GET", f"/api/v1/monitors/{flipped_id}/events?limit=1000")
                change = [e for e in events["items"] if e["type"] == "status_changed" and e["data"]["to"] == wanted][-1]
                recorded = datetime.fromisoformat(change["recorded_at"].replace("Z", "+00:00")).timestamp() * 1000
                delays.append(seen - recorded)
                page.evaluate("window.__changes = []")
            browser.close()
        delays.sort()
        print(json.dumps({
            "monitors": args.monitors,
            "register_seconds": round(registered, 2),
            "first_rows_ms": round(first_rows_ms),
            "dom_nodes": dom_nodes,
            "bytes_transferred": bytes_in,
            "transition_to_page_ms": {"median": round(delays[len(delays) // 2]), "max": round(delays[-1]), "flips": len(delays)},
        }))
    finally:
        upwatch.stop()
        target.server.shutdown()


if __name__ == "__main__":
    main()
