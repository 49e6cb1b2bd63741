"""Runs `python -m homeserver ...` under cProfile, profiling only between SIGUSR1 (start) and
SIGUSR2 (stop, and write the stats to $BENCH_PROFILE_OUT-<n>.prof). Used by run_fanout_bench.py --profile:
the window is one fan-out round, not the setup."""

import cProfile
import os
import runpy
import signal
import sys

profile = cProfile.Profile()
windows = 0


def start(*_):
    profile.enable()


def stop(*_):
    global profile, windows
    profile.disable()
    windows += 1
    profile.dump_stats(f"{os.environ.get('BENCH_PROFILE_OUT', 'server')}-{windows}.prof")
    profile = cProfile.Profile()


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
assert sys.argv[1] == "-m", sys.argv
module = sys.argv[2]
sys.argv = [module] + sys.argv[3:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
