"""The console's first render of a 10,000-event session, in real chromium (Playwright).

A `session-engine serve` child process on a fresh SQLite file; one session of `--events` value sets
written through REST (`value_set` events, a few keys overwritten in turn, so each state is small).
Then, `--rounds` times, a fresh signed-in page opens `/console#s=<session>` and reports, in
milliseconds since navigation start (`performance.now()` in the page):

- first rows: the sessions list and the timeline's first page drawn (what "first render" means),
- all rows: every event's row appended (page after page, `[limits].history_page_limit` a page),
- state: the session as of the middle event, after its row is clicked (ms from the click).

Printed as the median and the worst of the rounds. `--page-limit` sets the server's
history_page_limit (default 100, the server's default).

    python -m bench.console_render [--events 10000] [--rounds 5] [--page-limit 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import httpx
from playwright.sync_api import sync_playwright

from bench.common import BENCH_KEY, bench_config, served

SESSION = "bench-console"
STORAGE_KEY = "session-engine.console.key"
"""Where the page keeps the API key (adapters/console/static/data.js): the bench signs in through it."""


def seed(base: str, events: int) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {BENCH_KEY}"}) as client:
        for n in range(events):
            body = {"key": f"k{n % 16}", "value": {"n": n, "text": f"event {n}"}}
            response = client.post(f"/v1/sessions/{SESSION}/values", json=body)
            response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--page-limit", type=int, default=100)
    args = parser.parse_args()
    chromium = os.environ.get("SESSION_ENGINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    config = bench_config("normal", f"[limits]\nhistory_page_limit = {args.page_limit}\n")
    with served(config, "session-engine-console-") as (port, _pid):
        base = f"http://127.0.0.1:{port}"
        print(f"seeded {args.events} events in {seed(base, args.events):.1f} s")
        first, every, state = [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            for _ in range(args.rounds):
                context = browser.new_context(bypass_csp=True)  # wait_for_function evaluates strings
                context.add_init_script(f"sessionStorage.setItem('{STORAGE_KEY}', '{BENCH_KEY}')")
                page = context.new_page()
                page.goto(f"{base}/console#s={SESSION}")
                page.wait_for_function("document.querySelector('#timeline li') !== null", polling="raf")
                first.append(page.evaluate("performance.now()"))
                page.wait_for_function(
                    f"document.querySelectorAll('#timeline li').length === {args.events}", timeout=120_000
                )
                every.append(page.evaluate("performance.now()"))
                middle = args.events // 2
                clicked = page.evaluate("performance.now()")
                page.click(f'#timeline li[data-version="{middle}"]')
                page.wait_for_function(
                    f"document.querySelector('#detail').textContent.includes('as of version {middle} ')",
                    polling="raf",
                )
                state.append(page.evaluate("performance.now()") - clicked)
                context.close()
            browser.close()
    for name, figures in (("first rows", first), ("all rows", every), ("state at an event", state)):
        print(f"{name:>18}: median {statistics.median(figures):7.0f} ms, worst {max(figures):7.0f} ms")


if __name__ == "__main__":
    main()
