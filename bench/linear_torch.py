"""PyTorch side of bench/linear.ts: materialised hidden @ W.T + F.cross_entropy + backward.

usage: linear_torch.py N D V THREADS RUNS CHUNK_ROWS
Prints one JSON line: fwd+bwd times (ms), peak extra RSS (bytes, beyond inputs and the
gradients it returns), and matmul GFLOP/s at (CHUNK_ROWS, D)·(D, V) and (N, D)·(D, V).
Run with MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large> so freed blocks stay counted.
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

n, d, v, threads, runs, chunk = (int(x) for x in sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)


def maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# Filled in place: temporaries here would raise the peak RSS before the baseline is taken.
hidden = torch.empty(n, d).uniform_(-1, 1).requires_grad_()
weight = torch.empty(v, d).uniform_(-(d ** -0.5), d ** -0.5).requires_grad_()
target = torch.randint(0, v, (n,))
base = maxrss()


def step() -> float:
    hidden.grad = None
    weight.grad = None
    t0 = time.perf_counter()
    logits = hidden @ weight.T
    loss = F.cross_entropy(logits, target)
    loss.backward()
    return (time.perf_counter() - t0) * 1e3


times = [step()]  # the first call: its peak RSS is the one reported
extra = maxrss() - base - 4 * (n * d + v * d)
times += [step() for _ in range(runs - 1)]
times.sort()


def mm_gflops(rows: int) -> float:
    a = hidden.detach()[:rows].contiguous()
    w = weight.detach()
    out = torch.empty(rows, v)
    torch.mm(a, w.T, out=out)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        torch.mm(a, w.T, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * rows * d * v / best / 1e9


print(json.dumps({
    "threads": threads,
    "median_ms": times[len(times) // 2],
    "min_ms": times[0],
    "runs": len(times),
    "extra_rss": extra,
    "mm_chunk_gflops": mm_gflops(chunk),
    # The full-size product takes minutes with a reference BLAS; measured only below 2e11 flops.
    "mm_full_gflops": mm_gflops(n) if 2 * n * d * v <= 2e11 else None,
    "torch": torch.__version__,
}))
