"""Server memory while bus peers pipeline requests and read none of the answers (issue #23).

Starts `session-engine serve` on a fresh SQLite file, stores 30 session records with 2 KB titles,
then opens PEERS bus connections with a 4 KiB socket receive buffer that read nothing, each sending
REQUESTS `list` requests (about 60 KB per answer). Prints the server's RSS before, after 10 s of
that, and 5 s after the peers' sockets closed, and how long `/readyz` took meanwhile.

    python -m bench.never_reading_peers [--peers 5] [--requests 400]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import SECRET, bus_request, peer, store_records


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        config = Path(tmp) / "server.toml"
        config.write_text(
            f'[server]\nport = {port}\ndatabase = "sqlite:///{tmp}/bench.db"\nlog_level = "warning"\n'
            '[[tenants]]\nname = "a"\nnamespace = "a"\napp_name = "A"\napp_version = "1"\n'
            f'api_keys = ["BENCH0123456789abcdef"]\n[bus]\nsecret = "{SECRET}"\ntenant = "a"\n'
        )
        command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve", "--config", str(config)]
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            store_records(port)
            before = rss_mib(server.pid)
            peers = [peer(port, reading=False) for _ in range(args.peers)]
            for ws in peers:
                for n in range(args.requests):
                    ws.send(bus_request(n, "list", {"limit": 30}))
            time.sleep(10)
            during = rss_mib(server.pid)
            started = time.monotonic()
            httpx.get(base + "/readyz")
            readyz = time.monotonic() - started
            for ws in peers:
                ws.socket.close()
            time.sleep(5)
            after = rss_mib(server.pid)
        finally:
            server.send_signal(2)
            server.wait(30)
    figures = {"rss_before_mib": before, "rss_during_mib": during, "rss_after_close_mib": after}
    print(json.dumps({**figures, "readyz_seconds": round(readyz, 3)}))


if __name__ == "__main__":
    main()
