"""glibc's allocator, tuned for a process that runs models.

With the default settings glibc maps and unmaps the large activation buffers of a model on
every call (millions of minor page faults per image), and a worker thread's arena does so more
than the main thread's: Real-ESRGAN ran 8–14 % slower in the service's worker than in a bare
call on the main thread. One arena that keeps freed memory removes the faults: both run at the
same speed, about 15 % faster (benchmarks/bench_realesrgan_e2e.py). The price: memory freed
after a peak stays with the process.

The tunables are read when the process starts, so ``reexec_tuned`` starts the command again
with them set. A GLIBC_TUNABLES already in the environment (even empty) is left alone.
"""

from __future__ import annotations

import os
import platform
import sys

TUNABLES = "glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=4294967296"


def reexec_tuned(argv: list[str]) -> None:
    """Replace this process by ``argv`` with the tunables set; returns only when nothing is to be
    done (tunables already set, not glibc). Same pid, same open files: callers see no difference."""
    if "GLIBC_TUNABLES" in os.environ or sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], {**os.environ, "GLIBC_TUNABLES": TUNABLES})
