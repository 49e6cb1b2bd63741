"""Start two of our servers that federate over TLS on loopback, for tests written in another
language (the web client's Playwright test, clients/web/e2e/federation.test.mjs).

    .venv/bin/python tests/clients/start_federating_servers.py [--web-client DIST] [--count 2]

Uses the harness of the Python federation tests (tests/clients/federation_support.py): one
throw-away CA, each server named ``127.0.0.1:<federation port>`` with a TLS federation listener
and an HTTP client listener, loopback whitelisted for outgoing federation, rate limits lifted.
With ``--web-client``, each server also serves that build of the web client at ``/``.

Once all are up it prints ONE line of JSON on stdout::

    {"servers": [{"base_url": "http://127.0.0.1:P", "server_name": "127.0.0.1:F",
                  "log_path": "...", "workdir": "..."}, ...]}

and keeps running until it gets SIGTERM/SIGINT or its stdin is closed (so the servers go when the
process that started it dies); then it stops the servers and removes their files (kept with
HOMESERVER_TEST_KEEP_TMP=1). A start failure prints the log tails on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.clients.federation_support import FederatingServer, TestCa  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-client", help="a built web client (clients/web/dist) to serve at /")
    parser.add_argument("--count", type=int, default=2, help="how many servers (2)")
    args = parser.parse_args()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:
        # EOF on stdin: whoever started us has gone (or wants us gone).
        # (os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts interpreter exit.)
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    overrides = {}
    if args.web_client:
        dist = Path(args.web_client).resolve()
        if not (dist / "index.html").exists():
            sys.stderr.write(f"no built web client in {dist}\n")
            return 1
        overrides["web_client"] = {"enabled": True, "path": str(dist)}

    certs = Path(tempfile.mkdtemp(prefix="fed-launcher-certs-"))
    servers: list[FederatingServer] = []
    try:
        ca = TestCa(certs)
        servers = [FederatingServer(ca, f"s{i}", dict(overrides)) for i in range(args.count)]
        # Started side by side (generating a config and starting up are mostly waiting on Python imports).
        with ThreadPoolExecutor(max_workers=args.count) as pool:
            for future in [pool.submit(s.start) for s in servers]:
                future.result()
        print(json.dumps({"servers": [
            {"base_url": s.base_url, "server_name": s.server_name, "log_path": str(s.log_path),
             "workdir": str(s.workdir)} for s in servers]}), flush=True)
        while not stop.wait(0.5):
            for s in servers:
                if s._proc is not None and s._proc.poll() is not None:
                    sys.stderr.write(f"{s.server_name} exited with {s._proc.returncode}:\n{s.log_tail(3000)}\n")
                    return 1
        return 0
    except Exception as e:
        sys.stderr.write(f"starting the servers failed: {e}\n")
        for s in servers:
            sys.stderr.write(f"--- {s.server_name} log tail:\n{s.log_tail(3000)}\n")
        return 1
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
