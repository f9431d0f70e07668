"""Runs one libFuzzer target for a bounded number of runs from a fixed
seed, starting from the committed corpus. New inputs go to a temporary
directory, so the source tree is never written.

usage: run_fuzzer.py FUZZER CORPUS_DIR RUNS
"""
import subprocess
import sys
import tempfile

fuzzer, corpus, runs = sys.argv[1:4]
with tempfile.TemporaryDirectory() as scratch:
    # The first directory receives new inputs; the second is only read.
    cmd = [fuzzer, f"-runs={runs}", "-seed=1", "-error_exitcode=1", "-max_total_time=240", "-print_final_stats=1", scratch, corpus]
    print(" ".join(cmd), flush=True)
    sys.exit(subprocess.call(cmd))
