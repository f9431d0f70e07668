"""Tests skipped when echod runs under a wrapper (ECHOD_WRAPPER, e.g.
valgrind: meson test --setup valgrind), as "Class.test_name": reason. Only
checks the wrapper itself distorts belong here: valgrind runs echod 20-50
times slower, counts its own translation cache and shadow memory in echod's
RSS, and keeps its own descriptors in echod's /proc/PID/fd. Each skip is
printed ("*** valgrind: SKIPPED TEST ...") and counted in the test's summary
line; tools/valgrind lists them at the end.
"""
SKIPS = {
    # valgrind keeps ~7 descriptors of its own (its log, the executable, vgdb
    # pipes, /proc copies) near the top of RLIMIT_NOFILE and lowers echod's
    # usable limit by 12: with the test's 32 descriptors the arithmetic
    # "LIMIT - fd_count()" no longer says how many clients echod can take,
    # and the test sees 3 of them closed. test_repeated_bursts still runs.
    "OutOfDescriptors.test_at_the_limit": "valgrind's own descriptors distort the fd-limit arithmetic",
}
