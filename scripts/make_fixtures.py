#!/usr/bin/env python3
"""Generate fixtures/torch-cross-entropy.json: PyTorch's cross-entropy, forward and gradient,
in float64, for every option combination and the edge cases the reference must match; and
fixtures/torch-nonfinite.json: NaN and ±Infinity logits, with softmax and log_softmax too.

Run:  python3 scripts/make_fixtures.py [core] [nonfinite]   (PyTorch CPU; default: both files)

Every input value is exactly representable in float32, so float32 kernels see the same numbers.
Large inputs are not stored: they are described by a generator spec ({"gen": ...}) that
test/helpers/gen.ts reproduces bit for bit, and only a sample of their gradient is stored.

Semantics beyond F.cross_entropy (design.md §2):
  softcap s:  c = s*tanh(x/s) is part of the autograd graph;
  zLoss z:    each token that is not ignored adds z*lse^2, and the mean divides by the same
              D as PyTorch's mean (sum of the targets' weights, or N for probabilities).
With z = 0 the loss is F.cross_entropy's own reduction, so PyTorch's mean (NaN when D = 0) holds.
lse is torch.logsumexp: NaN for a row holding a NaN, +Infinity for a row holding +Infinity (whose
loss and gradient are NaN: its log_softmax is inf - inf).
One deliberate difference: the gradient row of an ignored token is exactly zero. PyTorch gives
zero there too, except when that row's logits hold NaN or ±Infinity: its log_softmax backward
then computes 0·NaN = NaN; xent keeps an ignored token's row at zero whatever its logits.
"""
import itertools
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
MASK32 = 0xFFFFFFFF


def gen_values(count, seed, scale):
    """Deterministic float32-exact values in [-scale, scale]; mirrored by test/helpers/gen.ts."""
    out = []
    for k in range(count):
        h = ((k ^ ((seed * 0x9E3779B9) & MASK32)) * 2654435761) & MASK32
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & MASK32
        h ^= h >> 13
        out.append(((h % 8193) - 4096) / 4096 * scale)
    return out


def gen_targets(count, seed, v):
    """Deterministic class indices in [0, v); mirrored by test/helpers/gen.ts."""
    vals = gen_values(count, seed + 7919, 1.0)
    return [min(v - 1, int((x + 1) / 2 * v)) for x in vals]


def f32(values):
    t = torch.tensor(values, dtype=torch.float32)
    return [float(x) for x in t.tolist()]


def run_case(name, n, v, logits, target, opts, sample_grad=None, logits_spec=None, target_spec=None, with_softmax=False):
    """Compute PyTorch's loss, per-token loss, lse and gradient for one case."""
    x = torch.tensor(logits, dtype=torch.float64).reshape(n, v).clone().requires_grad_(True)
    s = opts.get("softcap", 0)
    c = s * torch.tanh(x / s) if s else x
    eps = opts.get("labelSmoothing", 0.0)
    z = opts.get("zLoss", 0.0)
    red = opts.get("reduction", "mean")
    ign = opts.get("ignoreIndex", -100)
    w = torch.tensor(opts["weight"]) if "weight" in opts else None
    probs = isinstance(target, dict)
    if probs:
        tt = torch.tensor(target["probs"]).reshape(n, v)
        valid = torch.ones(n, dtype=torch.bool)
    else:
        tt = torch.tensor(target, dtype=torch.long)
        valid = tt != ign
    lse = torch.logsumexp(c, dim=1)
    per = F.cross_entropy(c, tt, weight=w, ignore_index=ign, reduction="none", label_smoothing=eps)
    if z > 0:
        per = per + torch.where(valid, z * lse * lse, torch.zeros_like(lse))
    if red == "none":
        total = per.sum()
        loss = None
    elif z == 0:
        loss = F.cross_entropy(c, tt, weight=w, ignore_index=ign, reduction=red, label_smoothing=eps)
        total = loss
    else:
        if probs:
            d = float(n)
        else:
            wy = w[tt.clamp(0, v - 1)] if w is not None else torch.ones(n)
            d = torch.where(valid, wy, torch.zeros(n)).sum()
        loss = per.sum() / d if red == "mean" else per.sum()
        total = loss
    total.backward()
    grad = x.grad.clone()
    grad[~valid] = 0  # an ignored token's gradient row is zero (see the module docstring)
    g = grad.reshape(-1).tolist()
    case = {
        "name": name,
        "n": n,
        "v": v,
        "logits": logits_spec if logits_spec is not None else logits,
        "target": target_spec if target_spec is not None else target,
        "options": opts,
        "want": {
            "loss": None if loss is None else float(loss),
            "rowLoss": [float(t) for t in per.detach().tolist()],
            "lse": [float(t) for t in lse.detach().tolist()],
        },
    }
    if with_softmax:
        case["want"]["softmax"] = F.softmax(c, dim=1).detach().reshape(-1).tolist()
        case["want"]["logSoftmax"] = F.log_softmax(c, dim=1).detach().reshape(-1).tolist()
    if sample_grad is None:
        case["want"]["grad"] = g
    else:
        case["want"]["gradIndex"] = sample_grad
        case["want"]["grad"] = [g[i] for i in sample_grad]
    return case


def option_grid(probs):
    """Every combination of the options that change the math."""
    reductions = ["mean", "sum", "none"]
    for red, eps, weighted, z, cap, ignore in itertools.product(
        reductions, [0.0, 0.1], [False, True], [0.0, 1e-2], [0, 3.0], [False] if probs else [False, True]
    ):
        o = {"reduction": red}
        if eps:
            o["labelSmoothing"] = eps
        if weighted:
            o["weight"] = "W"
        if z:
            o["zLoss"] = z
        if cap:
            o["softcap"] = cap
        if ignore:
            o["ignoreIndex"] = 2
        yield o


def portable(x):
    """JSON has no NaN or Infinity: write them as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: portable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [portable(v) for v in x]
    return x


def nonfinite_cases():
    """NaN and ±Infinity logits in every position that matters, with every option."""
    cases = []
    nan, inf = math.nan, math.inf
    n, v = 10, 7
    lg = f32(gen_values(n * v, 70, 3.0))
    tg = [2, 3, 4, 5, 1, 6, 0, 2, 3, 4]
    placed = {
        0: {0: nan},               # NaN before any finite logit
        1: {6: nan},               # NaN last
        2: {1: inf},               # +Infinity at a class that is not the target
        3: {5: inf},               # +Infinity at the target
        4: {0: -inf, 3: nan},      # NaN after a -Infinity
        6: {0: inf, 4: inf},       # two +Infinity
        7: {2: inf, 5: nan},       # +Infinity and NaN
        8: {j: -inf for j in range(v) if j != 3} | {3: nan},  # NaN among -Infinity only
        9: {1: inf, 3: -inf},      # +Infinity and -Infinity
    }                              # row 5 stays finite
    for i, cols in placed.items():
        for j, x in cols.items():
            lg[i * v + j] = x
    weight = f32([abs(x) + 0.25 for x in gen_values(v, 71, 2.0)])
    for o in ({"reduction": "mean"}, {"reduction": "sum"}, {"reduction": "none"},
              {"reduction": "none", "labelSmoothing": 0.1, "weight": weight, "zLoss": 1e-2},
              {"reduction": "mean", "softcap": 3.0},
              {"reduction": "none", "softcap": 3.0, "labelSmoothing": 0.1, "zLoss": 1e-2}):
        tag = ",".join(f"{k}={'W' if k == 'weight' else val}" for k, val in o.items())
        cases.append(run_case(f"nonfinite/index/{tag}", n, v, lg, tg, dict(o), with_softmax=True))
    # ignored tokens whose logits are NaN or +Infinity: loss 0, gradient row 0, finite mean
    tg_ign = [-100, 3, -100, 5, -100, 6, -100, -100, -100, 4]
    for o in ({"reduction": "mean"}, {"reduction": "none", "labelSmoothing": 0.1, "zLoss": 1e-2}):
        tag = ",".join(f"{k}={val}" for k, val in o.items())
        cases.append(run_case(f"nonfinite/ignored/{tag}", n, v, lg, tg_ign, dict(o), with_softmax=True))
    # ignored rows only where the row is not finite: every counted row is finite
    tg_fin = [-100 if i in placed else tg[i] for i in range(n)]
    cases.append(run_case("nonfinite/ignored-all-nonfinite/mean", n, v, lg, tg_fin, {"reduction": "mean"}))
    # probability targets
    rawp = torch.softmax(torch.tensor(gen_values(n * v, 72, 2.0)).reshape(n, v), dim=1).reshape(-1).tolist()
    for o in ({"reduction": "mean"}, {"reduction": "none", "labelSmoothing": 0.1, "weight": weight, "zLoss": 1e-2}):
        tag = ",".join(f"{k}={'W' if k == 'weight' else val}" for k, val in o.items())
        cases.append(run_case(f"nonfinite/probs/{tag}", n, v, lg, {"probs": f32(rawp)}, dict(o)))
    # the issue's own one-row examples
    cases.append(run_case("nonfinite/row/nan-first", 1, 3, [nan, 1.0, 0.125], [2], {"reduction": "mean"}, with_softmax=True))
    cases.append(run_case("nonfinite/row/pinf-not-target", 1, 3, [inf, 1.0, 0.125], [2], {"reduction": "mean"}, with_softmax=True))
    return cases


def write(name, cases):
    out = {
        "generator": "scripts/make_fixtures.py",
        "torch": torch.__version__,
        "dtype": "float64",
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", name)
    with open(path, "w") as f:
        json.dump(portable(out), f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)} (torch {torch.__version__})", file=sys.stderr)


def main():
    which = sys.argv[1:] or ["core", "nonfinite"]
    if "nonfinite" in which:
        write("torch-nonfinite.json", nonfinite_cases())
    if "core" not in which:
        return
    cases = []
    # --- the option grid on a small odd shape (N=5, V=7), index and probability targets
    n, v = 5, 7
    logits = f32(gen_values(n * v, 1, 4.0))
    weight = f32([abs(x) + 0.25 for x in gen_values(v, 2, 2.0)])
    target = [3, 2, 0, 6, 2]  # class 2 is the ignoreIndex where the grid asks for it
    raw = torch.tensor(gen_values(n * v, 3, 3.0)).reshape(n, v)
    probs = f32(torch.softmax(raw, dim=1).reshape(-1).tolist())
    for probs_target in (False, True):
        for o in option_grid(probs_target):
            if o.get("weight") == "W":
                o["weight"] = weight
            tag = ",".join(f"{k}={'W' if k == 'weight' else val}" for k, val in o.items())
            tgt = {"probs": probs} if probs_target else target
            cases.append(run_case(f"grid/{'probs' if probs_target else 'index'}/{tag}", n, v, logits, tgt, o))

    # --- shapes: V = 1, 2, odd N and V, V not a multiple of 4/8/16
    for (n, v) in [(1, 1), (3, 1), (4, 2), (7, 3), (9, 17), (2, 33), (3, 100)]:
        lg = f32(gen_values(n * v, 10 + v, 5.0))
        tg = gen_targets(n, 20 + v, v)
        for o in ({"reduction": "mean"}, {"reduction": "none", "labelSmoothing": 0.2, "zLoss": 1e-3}):
            cases.append(run_case(f"shape/{n}x{v}/{o['reduction']}", n, v, lg, tg, dict(o)))

    # --- extreme logits
    n, v = 3, 9
    for scale, tag in [(1e4, "pm1e4"), (100.0, "pm100")]:
        lg = f32(gen_values(n * v, 30, scale))
        lg[0] = 1e4 if scale == 1e4 else 100.0
        tg = [0, 4, 8]
        for o in ({"reduction": "mean"}, {"reduction": "sum", "labelSmoothing": 0.1, "zLoss": 1e-4},
                  {"reduction": "none", "softcap": 30.0}):
            cases.append(run_case(f"extreme/{tag}/{o['reduction']}", n, v, lg, tg, dict(o)))
    # logits in 88..100, where float32 exp overflows
    lg = f32([88 + (x + 1) * 6 for x in gen_values(n * v, 31, 1.0)])
    cases.append(run_case("extreme/88to100/mean", n, v, lg, [1, 2, 3], {"reduction": "mean"}))
    cases.append(run_case("extreme/88to100/none-smooth", n, v, lg, [1, 2, 3], {"reduction": "none", "labelSmoothing": 0.05}))

    # --- -Infinity masks
    n, v = 3, 6
    lg = f32(gen_values(n * v, 40, 3.0))
    for i in (1, 4, 8, 13, 17):
        lg[i] = -math.inf
    tg = [0, 3, 2]  # row 0: masks at 1, 4; row 1: 8 (=col 2), row 2: 13 (=col 1), 17 (=col 5)
    cases.append(run_case("mask/neginf/mean", n, v, lg, tg, {"reduction": "mean"}))
    cases.append(run_case("mask/neginf/none-weight", n, v, lg, tg, {"reduction": "none", "weight": f32([1, 2, 0.5, 1, 3, 0.25])}))
    cases.append(run_case("mask/neginf/smooth-is-inf", n, v, lg, tg, {"reduction": "none", "labelSmoothing": 0.1}))
    cases.append(run_case("mask/neginf/softcap", n, v, lg, tg, {"reduction": "mean", "softcap": 5.0, "labelSmoothing": 0.1}))
    cases.append(run_case("mask/neginf/zloss", n, v, lg, tg, {"reduction": "sum", "zLoss": 0.01}))
    tg_inf = [1, 3, 2]  # row 0's target logit is -Infinity: loss +Infinity, gradient finite
    cases.append(run_case("mask/neginf-target/none", n, v, lg, tg_inf, {"reduction": "none"}))
    cases.append(run_case("mask/neginf-target/mean", n, v, lg, tg_inf, {"reduction": "mean"}))
    rawp = torch.softmax(torch.tensor(gen_values(n * v, 41, 2.0)).reshape(n, v), dim=1).reshape(-1).tolist()
    cases.append(run_case("mask/neginf/probs", n, v, lg, {"probs": f32(rawp)}, {"reduction": "mean"}))

    # --- ignored tokens and zero weights
    n, v = 4, 5
    lg = f32(gen_values(n * v, 50, 2.0))
    for red in ("mean", "sum", "none"):
        cases.append(run_case(f"ignore/all/{red}", n, v, lg, [-100] * n, {"reduction": red}))
        cases.append(run_case(f"ignore/all-smooth-z/{red}", n, v, lg, [-100] * n, {"reduction": red, "labelSmoothing": 0.1, "zLoss": 0.01}))
        cases.append(run_case(f"weight/all-zero/{red}", n, v, lg, [0, 1, 2, 3], {"reduction": red, "weight": [0.0] * v}))
        cases.append(run_case(f"ignore/valid-class/{red}", n, v, lg, [0, 1, 0, 4], {"reduction": red, "ignoreIndex": 0, "labelSmoothing": 0.1, "weight": f32([1, 2, 3, 0.5, 1])}))
    cases.append(run_case("weight/target-zero/mean", n, v, lg, [0, 1, 2, 3], {"reduction": "mean", "weight": f32([0, 1, 1, 1, 1])}))
    # mean with D = 0 while tokens count (their targets' weights are 0, other classes' are not):
    # without z-loss PyTorch's target term is 0/0, so the loss is NaN even with smoothing; the
    # z-loss composite divides the whole (positive) sum by 0: +Infinity. Gradients: NaN (0·∞).
    w0 = f32([1, 0, 2, 0.5, 1])
    for tag, extra in (("plain", {}), ("smooth", {"labelSmoothing": 0.1}), ("z", {"zLoss": 0.1}),
                       ("smooth-z", {"labelSmoothing": 0.1, "zLoss": 0.1})):
        cases.append(run_case(f"weight/zero-denominator/{tag}", n, v, lg, [1, 1, -100, 1], {"reduction": "mean", "weight": w0, **extra}))

    # --- a GPT-2 sized vocabulary: V = 50257, inputs from the generator, gradient sampled
    n, v = 3, 50257
    spec_l = {"gen": "values", "count": n * v, "seed": 60, "scale": 8.0}
    spec_t = {"gen": "targets", "count": n, "seed": 61, "v": v}
    lg = gen_values(n * v, 60, 8.0)
    tg = gen_targets(n, 61, v)
    sample = sorted(set(list(range(0, n * v, 97)) + [i * v + t for i, t in enumerate(tg)] + [n * v - 1]))
    for o in ({"reduction": "mean"}, {"reduction": "none", "labelSmoothing": 0.1, "zLoss": 1e-4, "softcap": 30.0}):
        cases.append(run_case(f"vocab/50257/{o['reduction']}", n, v, lg, tg, dict(o), sample_grad=sample, logits_spec=spec_l, target_spec=spec_t))

    write("torch-cross-entropy.json", cases)


if __name__ == "__main__":
    main()
