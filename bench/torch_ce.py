#!/usr/bin/python3
"""PyTorch anchor for bench/engine.ts: F.cross_entropy forward and forward+backward on CPU.

Usage: /usr/bin/python3 bench/torch_ce.py N V THREADS RUNS
Prints one JSON line: medians/mins in ms and the peak RSS growth of the first fwd+bwd call.
The caller sets the glibc malloc environment (MALLOC_MMAP_MAX_, MALLOC_TRIM_THRESHOLD_) for the
"tuned" figures; without it glibc returns the large gradient buffers to the OS after every call
and pays page faults for them on the next. Peak extra memory is the peak RSS of the\nfirst fwd+bwd call above the RSS just before it (it includes the N×V gradient).
"""
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

n, v, threads, runs = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
# Filled in blocks of rows, so that no temporary raises the peak RSS above the logits themselves.
logits = torch.empty(n, v, dtype=torch.float32)
for i0 in range(0, n, 16):
    i1 = min(n, i0 + 16)
    idx = torch.arange(i0 * v, i1 * v, dtype=torch.float64)
    logits[i0:i1] = (torch.sin(idx * 0.618) * 4).to(torch.float32).reshape(i1 - i0, v)
del idx
target = (torch.arange(n, dtype=torch.int64) * 7919) % v


def fwd():
    with torch.no_grad():
        return F.cross_entropy(logits, target).item()


def fwd_bwd():
    x = logits.detach().requires_grad_(True)
    loss = F.cross_entropy(x, target)
    loss.backward()
    g = x.grad
    return float(g[0, 0])


def timed(fn):
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def rss_now_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


# Peak memory of one fwd+bwd beyond the inputs, measured first (before any other call's peak).
rss0 = rss_now_kib()
fwd_bwd()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fwd()
fm, fmin = timed(fwd)
bm, bmin = timed(fwd_bwd)
loss = fwd()
print(json.dumps({
    "torch": torch.__version__, "threads": threads,
    "fwd": {"median": fm, "min": fmin}, "fwdbwd": {"median": bm, "min": bmin},
    "peakExtraBytes": (rss1 - rss0) * 1024, "loss": loss if math.isfinite(loss) else None,
}))
