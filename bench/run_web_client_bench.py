#!/usr/bin/env python3
"""Hand-run benchmark: the bundled web client (clients/web/dist) in headless Chromium, against our
homeserver and against Synapse, one server at a time, on SQLite, everything on 127.0.0.1.

1. bundle: raw and gzipped size of the entry chunk, its CSS and preloads, and the lazy chunks
   (read from dist/, independent of the server);
2. log-in page: navigation start -> the log-in form is usable, desktop and phone (ours: the client
   served by our homeserver; Synapse cannot serve it, so a minimal static server does);
3. log-in -> room list: an existing account in 21 rooms;
4. log-in -> first decrypted message: bob (matrix-js-sdk, Rust crypto) sends a new message to the
   encrypted DM as soon as the new device shows up in his device list;
5. log-in -> recovery key -> first old message decrypted from the key backup.

The browser half is bench/web_client_timing.mjs (playwright-core from clients/web/node_modules,
Debian's /usr/bin/chromium). Figures are medians of --runs. See bench/README.md for exactly what
each figure measures.

    .venv/bin/python bench/run_web_client_bench.py [--quick] [--runs N] [--only ours|synapse]
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from common import (
    REPO_DIR,
    SYNAPSE_EXTRA,
    WORK_DIR,
    WRK_CPU,
    bench_parser,
    busy_notes,
    fill_defaults,
    log,
    pin,
    pin_load_generator,
    print_footer,
    print_header,
    ratio_cell,
    run_side_by_side,
    server_config,
    serving,
)
from run_auth_bench import password_scheme

DIST = REPO_DIR / "clients" / "web" / "dist"
TIMING_SCRIPT = Path(__file__).resolve().parent / "web_client_timing.mjs"
WIDTH = 92

REGISTRATION = {"enable_registration": True, "enable_registration_without_verification": True}
# Each server's default password hashing stays: log-in is measured, and a user pays for it.
SYNAPSE_WEB = {k: v for k, v in SYNAPSE_EXTRA.items() if k != "bcrypt_rounds"} | REGISTRATION


# --------------------------------------------------------------------------
# the bundle


def snapshot_dist() -> Path:
    """A copy of dist/ for this run: other builds may rewrite dist/ meanwhile, and both servers
    must get the same bytes."""
    if not (DIST / "index.html").is_file():
        raise SystemExit(f"no built client in {DIST}: run `cd clients/web && npm run build` first")
    target = WORK_DIR / "web-client-dist"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(DIST, target)
    return target


def gz_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def bundle_figures(dist: Path) -> list[tuple[str, str, int, int]]:
    """(group, file, raw bytes, gzip -9 bytes) for what the log-in page loads and for the rest."""
    html = (dist / "index.html").read_text()
    entry = re.findall(r'<script type="module"[^>]*src="/([^"]+)"', html)
    preloads = re.findall(r'<link rel="modulepreload"[^>]*href="/([^"]+)"', html)
    styles = re.findall(r'<link rel="stylesheet"[^>]*href="/([^"]+)"', html)
    icons = re.findall(r'<link rel="icon"[^>]*href="/([^"]+)"', html)
    rows = [("page", "index.html", (dist / "index.html").stat().st_size, gz_size(dist / "index.html"))]
    for group, names in (("entry", entry), ("preload", preloads), ("css", styles), ("icon", icons)):
        for name in names:
            rows.append((group, name, (dist / name).stat().st_size, gz_size(dist / name)))
    initial = {r[1] for r in rows}
    for path in sorted((dist / "assets").iterdir()):
        name = f"assets/{path.name}"
        if path.suffix in (".js", ".wasm", ".css") and name not in initial:
            rows.append(("lazy", name, path.stat().st_size, gz_size(path)))
    return rows


def print_bundle(rows: list[tuple[str, str, int, int]]) -> None:
    print(f"{'bundle (dist/, gzip -9)':44s} {'raw KiB':>10s} {'gzip KiB':>10s}")
    for group, name, raw, gz in rows:
        print(f"  {group:8s} {name:42s} {raw / 1024:9.1f} {gz / 1024:10.1f}")
    login = [r for r in rows if r[0] != "lazy"]
    print(f"  {'log-in page total (everything but lazy)':51s} {sum(r[2] for r in login) / 1024:9.1f} "
          f"{sum(r[3] for r in login) / 1024:10.1f}")
    lazy = [r for r in rows if r[0] == "lazy"]
    print(f"  {'lazy chunks total':51s} {sum(r[2] for r in lazy) / 1024:9.1f} {sum(r[3] for r in lazy) / 1024:10.1f}")


# --------------------------------------------------------------------------
# one server


def bench_server(label: str, args) -> tuple[dict, str]:
    notes = busy_notes(label)
    load_before = os.getloadavg()
    our_extra = REGISTRATION | {"web_client": {"enabled": True, "path": str(args.dist)}}
    with serving(label, f"web-{label}", "sqlite", our_extra, SYNAPSE_WEB) as server:
        out = server.workdir / "timing.json"
        config = {
            "homeserver": server.base,
            "distDir": str(args.dist),
            "serverPgid": server.proc.pid,  # Server.start gives it its own session: pgid == pid
            "runs": args.runs,
            "rooms": args.rooms,
            "messagesPerRoom": args.messages,
            "oldMessages": 5,
            # Ours serves the client itself: time the log-in page from there too.
            "extraOrigins": [{"label": "homeserver", "url": server.base + "/"}] if label == "ours" else [],
            "phases": args.phases.split(","),
            "workDir": str(server.workdir),
            "out": str(out),
        }
        config_path = server.workdir / "timing-config.json"
        config_path.write_text(json.dumps(config, indent=1))
        cmd = [*pin(WRK_CPU), "node", str(TIMING_SCRIPT), str(config_path)]
        log(f"{label}: {' '.join(cmd)}")
        proc = subprocess.run(cmd, cwd=REPO_DIR, timeout=args.timeout)
        figures = json.loads(out.read_text()) if out.exists() else {}
        if proc.returncode != 0 or "error" in figures:
            raise RuntimeError(f"{label}: the browser run failed: {figures.get('error', proc.returncode)}")
        version = f"{server.version}, password hash {password_scheme(server, server_config(server))}"
    load_after = os.getloadavg()
    notes.append(f"{label}: load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    figures["notes"] = notes
    return figures, version


# --------------------------------------------------------------------------
# the report


def med(runs: list[dict], get: Callable[[dict], float | None]) -> float:
    values = [v for v in (get(r) for r in runs) if v is not None]
    return statistics.median(values) if values else float("nan")


def mark(name: str) -> Callable[[dict], float | None]:
    return lambda run: run["ms"].get(name)


def login_page(origin_for: dict[str, str], viewport: str, key: str) -> Callable[[dict, str], float]:
    return lambda fig, label: med(fig.get(f"login_page_{origin_for[label]}_{viewport}", []), lambda r: r[key])


# The log-in page of ours is served by our homeserver; Synapse cannot serve it: a static server does.
PAGE_ORIGIN = {"ours": "homeserver", "synapse": "static"}

ROWS: list[tuple[str, str, Callable[[dict, str], float]]] = [
    # (name, unit, figure(results of one server, its label))
    ("log-in page ready, desktop", "ms", login_page(PAGE_ORIGIN, "desktop", "ready")),
    ("log-in page ready, phone", "ms", login_page(PAGE_ORIGIN, "phone", "ready")),
    ("log-in page quiet TTI, desktop", "ms", login_page(PAGE_ORIGIN, "desktop", "quiet_tti")),
    ("log-in page quiet TTI, phone", "ms", login_page(PAGE_ORIGIN, "phone", "quiet_tti")),
    ("log-in -> chat screen", "ms", lambda f, _: med(f.get("room_list", []), mark("chats"))),
    ("log-in -> all rooms listed", "ms", lambda f, _: med(f.get("room_list", []), mark("rooms_listed"))),
    ("  POST /login request", "ms", lambda f, _: med(f.get("room_list", []), lambda r: r["login_request_ms"])),
    ("  initial /sync request", "ms", lambda f, _: med(f.get("room_list", []), lambda r: r["initial_sync_request_ms"])),
    ("  waiting on the homeserver", "ms", lambda f, _: med(f.get("room_list", []), lambda r: r["homeserver_wait_ms"])),
    ("  server CPU, log-in -> rooms listed", "ms", lambda f, _: med(f.get("room_list", []), lambda r: r["server_cpu_ms"])),
    ("log-in -> new message decrypted", "ms", lambda f, _: med(f.get("first_decrypted", []), mark("timeline_new"))),
    ("  log-in -> bob sees the new device", "ms", lambda f, _: med(f.get("first_decrypted", []), mark("bob_saw_device"))),
    ("  bob's send (key share + event)", "ms",
     lambda f, _: med(f.get("first_decrypted", []), lambda r: r["ms"]["bob_sent"] - r["ms"]["bob_saw_device"])),
    ("  bob's send done -> shown decrypted", "ms",
     lambda f, _: med(f.get("first_decrypted", []), lambda r: r["ms"]["timeline_new"] - r["ms"]["bob_sent"])),
    ("  server CPU, log-in -> shown", "ms", lambda f, _: med(f.get("first_decrypted", []), lambda r: r["server_cpu_ms"])),
    ("log-in -> old message from backup", "ms", lambda f, _: med(f.get("recovery", []), mark("timeline_old"))),
    ("  Restore click -> old message shown", "ms",
     lambda f, _: med(f.get("recovery", []), lambda r: r["ms"]["timeline_old"] - r["ms"]["restore_clicked"])),
    ("  server CPU, log-in -> shown", "ms", lambda f, _: med(f.get("recovery", []), lambda r: r["server_cpu_ms"])),
]


def fmt(value: float) -> str:
    return f"{value:12.0f}" if value == value else f"{'-':>12s}"


def print_report(results: dict[str, dict], versions: dict[str, str], args) -> None:
    print_header(WIDTH, versions)
    chromium = next((r.get("chromium") for r in results.values() if r.get("chromium")), "?")
    print(f"Chromium {chromium} (headless, /usr/bin/chromium); SQLite; 127.0.0.1; median of {args.runs} runs; "
          f"alice in {args.rooms + 1} rooms ({args.messages} messages each + an encrypted DM)")
    print("-" * WIDTH)
    print_bundle(args.bundle)
    print("-" * WIDTH)
    print(f"{'':40s} {'ours':>12s} {'synapse':>12s}   ratio (>1: ours better)")
    for name, unit, get in ROWS:
        per_server = {label: get(fig, label) for label, fig in results.items()}
        cells = [fmt(per_server[label]) if label in per_server else f"{'-':>12s}" for label in ("ours", "synapse")]
        ratio = ratio_cell(per_server, lambda v: v, False) if all(v == v for v in per_server.values()) else ""
        print(f"{name + ' (' + unit + ')':40s} {' '.join(cells)}   {ratio}")
    notes = []
    for label, fig in results.items():
        for viewport in ("desktop", "phone"):
            runs = fig.get(f"login_page_static_{viewport}")
            if runs:
                print(f"  {label}: log-in page from the static server, {viewport}: ready "
                      f"{med(runs, lambda r: r['ready']):.0f} ms, quiet TTI {med(runs, lambda r: r['quiet_tti']):.0f} ms, "
                      f"FCP {med(runs, lambda r: r['fcp']):.0f} ms, {med(runs, lambda r: r['bytes_to_ready']) / 1024:.0f} KiB "
                      f"transferred before ready")
        for name, headline in (("room_list", "rooms_listed"), ("first_decrypted", "timeline_new"),
                               ("recovery", "timeline_old")):
            runs = fig.get(name, [])
            if runs:
                first = sorted(runs[0]["ms"].items(), key=lambda kv: kv[1])
                print(f"  {label}: {name}: {headline} in each run "
                      + ", ".join(f"{r['ms'][headline]:.0f}" for r in runs)
                      + f" ms; lazy chunks loaded {med(runs, lambda r: r['chunks_loaded_ms']):.0f} ms after the click;"
                      + f" {med(runs, lambda r: r['requests']):.0f} homeserver requests; first run's marks: "
                      + ", ".join(f"{k} {v:.0f}" for k, v in first if k != "submit"))
        notes += fig.get("notes", [])
    print_footer(WIDTH, notes, "Every figure is lower-is-better; ratios are synapse/ours, so above 1 means ours "
                               "is better. Log-in page rows: ours = served by our homeserver, synapse = by a "
                               "static server (the client is the same).")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 2 runs, 5 rooms")
    parser.add_argument("--runs", type=int, help="runs per figure, the median is reported (default 5, quick 2)")
    parser.add_argument("--rooms", type=int, help="rooms of the measured account besides the DM (default 20, quick 5)")
    parser.add_argument("--messages", type=int, default=10, help="messages in each of those rooms (default 10)")
    parser.add_argument("--phases", default="login_page,room_list,first_decrypted,recovery",
                        help="comma-separated phases (default: all)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one server's browser run")
    args = parser.parse_args()
    fill_defaults(args, quick={"runs": 2, "rooms": 5}, full={"runs": 5, "rooms": 20})
    if not shutil.which("node"):
        raise SystemExit("node is needed (the browser half is bench/web_client_timing.mjs)")
    args.dist = snapshot_dist()
    args.bundle = bundle_figures(args.dist)
    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
