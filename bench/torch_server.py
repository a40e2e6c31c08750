#!/usr/bin/python3
"""PyTorch anchor for bench/engine.ts, as a server so that its calls interleave with ours.

Usage: /usr/bin/python3 bench/torch_server.py N V THREADS
Reads commands on stdin, one a line, and answers each with one JSON line:
  "fwd"     F.cross_entropy forward (no_grad)          -> {"ms": ...}
  "fwdbwd"  forward + backward, a fresh gradient         -> {"ms": ...}
  "peak"    peak RSS growth of one fwd+bwd over the RSS before it (run it first) -> {"bytes": ...}
  "quit"
The caller sets the glibc malloc environment (MALLOC_MMAP_MAX_=0, a large MALLOC_TRIM_THRESHOLD_)
for the "tuned" figures; as shipped, glibc returns the big buffers to the OS after every call and
pays page faults for them on the next.
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

n, v, threads = (int(a) for a in sys.argv[1:4])
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
        F.cross_entropy(logits, target).item()


def fwd_bwd():
    x = logits.detach().requires_grad_(True)
    F.cross_entropy(x, target).backward()
    float(x.grad[0, 0])


def rss_now_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "quit":
        break
    if cmd == "peak":
        r0 = rss_now_kib()
        fwd_bwd()
        print(json.dumps({"bytes": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) * 1024}), flush=True)
        continue
    f = fwd if cmd == "fwd" else fwd_bwd
    t0 = time.perf_counter()
    f()
    print(json.dumps({"ms": (time.perf_counter() - t0) * 1e3}), flush=True)
