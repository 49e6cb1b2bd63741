#!/usr/bin/env python3
"""Hand-run benchmark: media upload and download throughput, ours vs Synapse, and how much
memory a big upload costs our server.

For each server in turn (SQLite; media is disk-bound): register a user, upload `--files` files
of `--size-mb` MB each (every file different, so no deduplication helps), download each one back
(authenticated endpoint), and report MB/s both ways. Then upload one `--big-mb` MB file while
sampling the server's resident memory from /proc/<pid>/status, and report how much it grew.
Everything on 127.0.0.1. See bench/README.md.

    .venv/bin/python bench/run_media_bench.py [--quick] [--only ours|synapse]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

from common import (
    HOST,
    OUR_EXTRA,
    PASSWORD,
    SYNAPSE_EXTRA,
    bench_parser,
    clamp,
    cpu_busy,
    cpu_model,
    fill_defaults,
    log,
    pin_load_generator,
    register_user,
    registration_secret,
    run_side_by_side,
    serving,
)

CHUNK = 1024 * 1024
BLOCK = os.urandom(CHUNK)  # the body is this block repeated, after a per-file unique prefix
UPLOAD_LIMIT = "600M"
MEDIA_OURS = {**OUR_EXTRA, "max_upload_size": UPLOAD_LIMIT}
MEDIA_SYNAPSE = {**SYNAPSE_EXTRA, "max_upload_size": UPLOAD_LIMIT, "enable_authenticated_media": True}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def body_chunks(size: int, tag: int):  # noqa: ANN201 - a generator of bytes
    prefix = f"file {tag} {time.time_ns()}\n".encode()
    yield prefix
    left = size - len(prefix)
    while left > 0:
        piece = BLOCK[:min(CHUNK, left)]
        left -= len(piece)
        yield piece


def upload(conn: http.client.HTTPConnection, token: str, size: int, tag: int) -> str:
    conn.putrequest("POST", f"/_matrix/media/v3/upload?filename=bench{tag}.bin")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for piece in body_chunks(size, tag):
        conn.send(piece)
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"upload -> {resp.status} {raw[:200]!r}")
    return json.loads(raw)["content_uri"]


def download(conn: http.client.HTTPConnection, token: str, mxc: str) -> int:
    server_name, media_id = mxc[len("mxc://"):].split("/", 1)
    conn.request("GET", f"/_matrix/client/v1/media/download/{server_name}/{media_id}",
                 headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"download -> {resp.status} {resp.read()[:200]!r}")
    total = 0
    while piece := resp.read(CHUNK):
        total += len(piece)
    return total


def bench_server(label: str, args: argparse.Namespace) -> tuple[dict[str, float], str]:
    with serving(label, f"media-{label}", "sqlite", MEDIA_OURS, MEDIA_SYNAPSE) as server:
        token = register_user(server, registration_secret(server), "bencher", PASSWORD)
        conn = http.client.HTTPConnection(HOST, server.port, timeout=600)
        size = int(args.size_mb * CHUNK)
        start = time.perf_counter()
        uris = [upload(conn, token, size, i) for i in range(args.files)]
        up_s = time.perf_counter() - start
        start = time.perf_counter()
        for uri in uris:
            if download(conn, token, uri) != size:
                raise RuntimeError("download returned the wrong number of bytes")
        down_s = time.perf_counter() - start
        total_mb = args.files * args.size_mb
        figures = {"upload_mb_s": total_mb / up_s, "download_mb_s": total_mb / down_s}
        log(f"{label}: upload {figures['upload_mb_s']:.1f} MB/s, download {figures['download_mb_s']:.1f} MB/s")

        pid = server.proc.pid
        before = rss_kib(pid)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            start = time.perf_counter()
            upload(conn, token, int(args.big_mb * CHUNK), 999_999)
            big_s = time.perf_counter() - start
            time.sleep(0.3)  # any growth after the response, too
        finally:
            done.set()
            sampler.join()
        figures.update(rss_before_mb=before / 1024, rss_peak_mb=peak[0] / 1024,
                       rss_growth_mb=(peak[0] - before) / 1024, big_upload_mb_s=args.big_mb / big_s)
        log(f"{label}: {args.big_mb} MB upload at {figures['big_upload_mb_s']:.1f} MB/s; RSS {before / 1024:.0f} MB "
            f"-> peak {peak[0] / 1024:.0f} MB (+{figures['rss_growth_mb']:.0f} MB)")
        conn.close()
    return figures, server.version


def print_report(results: dict[str, dict[str, float]], versions: dict[str, str], args: argparse.Namespace,
                 busy: float) -> None:
    print()
    print(f"Media benchmark ({cpu_model()}, {os.cpu_count()} CPUs, {busy:.0%} busy before the run: "
          "other work shares this machine, so treat the figures as rough)")
    print(f"{args.files} files x {args.size_mb} MB each way; one {args.big_mb} MB upload for memory; SQLite")
    print(f"{'':10}{'upload MB/s':>14}{'download MB/s':>16}{'big upload MB/s':>18}{'RSS growth MB':>16}")
    for label, f in results.items():
        print(f"{label:10}{f['upload_mb_s']:>14.1f}{f['download_mb_s']:>16.1f}{f['big_upload_mb_s']:>18.1f}"
              f"{f['rss_growth_mb']:>16.0f}   ({versions[label]}; RSS {f['rss_before_mb']:.0f} -> "
              f"{f['rss_peak_mb']:.0f} MB)")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 3 files of 5 MB, a 50 MB big upload")
    parser.add_argument("--files", type=int, help="files uploaded and downloaded (default 10)")
    parser.add_argument("--size-mb", type=float, help="size of each file in MB (default 20)")
    parser.add_argument("--big-mb", type=float, help="size of the memory-measured upload in MB (default 200)")
    args = parser.parse_args()
    fill_defaults(args, quick={"files": 3, "size_mb": 5, "big_mb": 50},
                  full={"files": 10, "size_mb": 20, "big_mb": 200})
    clamp(args, files=(1, 1000), size_mb=(0.01, 500), big_mb=(1, 500))

    pin_load_generator()
    busy = cpu_busy()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args, busy))


if __name__ == "__main__":
    sys.exit(main())
