#!/usr/bin/env python3
"""Generate fixtures/torch-lm-outputs.json: what language-model training reads from the loss,
pinned by PyTorch in float64.

Run:  python3 scripts/make_fixtures_lm.py      (any Python with PyTorch; CPU is enough)

Two lists of cases:

"crossEntropy": F.cross_entropy with the outputs LM training reads from the same pass
  temperature τ:    c = softcap(x) / τ (softcap first), in the autograd graph, so the gradient
                    is w.r.t. x; lse, the z-loss, the entropy and argmax are those of c;
  denominator d:    with "mean", the summed loss (and so its gradient) is divided by d instead
                    of the weight sum of the tokens not ignored;
  argmax:           torch.argmax(c, dim=1), the first index on ties;
  accuracy:         [argmax == y] over the tokens not ignored: their mean ("mean"; divided by d
                    when d is given, NaN when no token counts), their count ("sum"), or 0/1 per
                    token ("none", 0 for ignored tokens); index targets only;
  entropy:          H = -Σ p·log p of p = softmax(c) (from log_softmax, 0·log 0 = 0), reduced
                    as accuracy is: unweighted, over the tokens not ignored (all N for
                    probability targets), 0 for ignored tokens under "none";
  zLoss apart:      the part z·lse² of the loss, reduced as the loss is (same divisor).

"distillation": the student's logits s and the teacher's t, temperature T, Q = softmax(s/T),
  P = softmax(t/T), per token (row):
  "kl":             KL(P‖Q) = F.kl_div(log Q, log P, log_target=True).sum(-1)
  "reverse-kl":     KL(Q‖P) = F.kl_div(log P, log Q, log_target=True).sum(-1)
  "jsd" with β:     β·KL(P‖M) + (1-β)·KL(Q‖M), M = β·P + (1-β)·Q, written from its definition
                    (log M = logsumexp(log β + log P, log(1-β) + log Q)). β = 0 is "kl" and β = 1
                    is "reverse-kl": Liger-Kernel's LigerJSD and TRL's generalized_jsd_loss
                    special-case those ends this way (the formula itself is 0 there, since M
                    becomes Q or P).
  each multiplied by T² (Hinton et al.'s convention, so gradients keep their size as T grows);
  a target with ignoreIndex masks tokens (loss 0, gradient 0);
  "batchmean" (default): the sum over the tokens not masked divided by their count (N without a
                    target), as TRL's generalized_jsd_loss and Liger's JSD do (0/0 = NaN when
                    every token is masked, as crossEntropy's "mean");
  "sum", "none" (per token, 0 when masked); the gradient w.r.t. s by autograd.
  F.kl_div with log_target=True gives NaN where the target's probability is 0 (exp(-inf)·(-inf));
  the fixtures use 0·log 0 = 0 there (F.kl_div's own convention with log_target=False, checked
  below; where both probabilities are 0 that too gives NaN, and the term is 0), computed with a
  double `where` so that autograd's gradient stays finite.

Inputs are float32-exact; large inputs are generator specs mirrored by test/helpers/gen.ts.
"""
import itertools
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import f32, gen_targets, gen_values, portable  # noqa: E402

torch.set_default_dtype(torch.float64)
NEG_INF = -math.inf


# ---------------------------------------------------------------------------------------------
# Cross-entropy with the LM-training outputs
# ---------------------------------------------------------------------------------------------


def ce_case(name, n, v, logits, target, opts, sample_grad=None, logits_spec=None, target_spec=None):
    x = torch.tensor(logits).reshape(n, v).clone().requires_grad_(True)
    s = opts.get("softcap", 0)
    tau = opts.get("temperature", 1.0)
    c = s * torch.tanh(x / s) if s else x
    c = c / tau
    eps = opts.get("labelSmoothing", 0.0)
    z = opts.get("zLoss", 0.0)
    red = opts.get("reduction", "mean")
    ign = opts.get("ignoreIndex", -100)
    den = opts.get("denominator")
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
    zrow = torch.where(valid, z * lse * lse, torch.zeros_like(lse)) if z > 0 else None
    if zrow is not None:
        per = per + zrow
    # D: the mean's divisor (PyTorch's weight sum of the tokens not ignored, N for probabilities,
    # or the caller's denominator); K: the count of the tokens that count, for accuracy/entropy.
    if probs:
        d_torch = float(n)
    else:
        wy = w[tt.clamp(0, v - 1)] if w is not None else torch.ones(n)
        d_torch = float(torch.where(valid, wy, torch.zeros(n)).sum())
    count = float(valid.sum())
    d = den if den is not None else d_torch
    k = den if den is not None else count
    if red == "none":
        loss = None
        total = per.sum()
    else:
        if z == 0 and den is None:
            loss = F.cross_entropy(c, tt, weight=w, ignore_index=ign, reduction=red, label_smoothing=eps)
        else:
            loss = per.sum() / d if red == "mean" else per.sum()
        total = loss
    total.backward()
    g = x.grad.reshape(-1).tolist()

    with torch.no_grad():
        am = torch.argmax(c, dim=1)
        logp = torch.log_softmax(c, dim=1)
        p = logp.exp()
        ent = -torch.where(p > 0, p * torch.where(p > 0, logp, torch.zeros_like(logp)), torch.zeros_like(p)).sum(1)
        ent = torch.where(valid, ent, torch.zeros_like(ent))

    def reduce(rows, divisor):
        if red == "none":
            return [float(t) for t in rows.tolist()]
        tot = float(rows.sum())
        if red == "sum":
            return tot
        return tot / divisor if divisor != 0 else math.nan

    want = {
        "loss": None if loss is None else float(loss.detach()),
        "rowLoss": [float(t) for t in per.detach().tolist()],
        "lse": [float(t) for t in lse.detach().tolist()],
        "argmax": [int(t) for t in am.tolist()],
        "entropy": reduce(ent, k),
        "zLoss": None if zrow is None else reduce(zrow.detach(), d),
    }
    if not probs:
        hit = torch.where(valid, (am == tt).double(), torch.zeros(n))
        want["accuracy"] = reduce(hit, k)
    if sample_grad is None:
        want["grad"] = g
    else:
        want["gradIndex"] = sample_grad
        want["grad"] = [g[i] for i in sample_grad]
    return {
        "name": name,
        "n": n,
        "v": v,
        "logits": logits_spec if logits_spec is not None else logits,
        "target": target_spec if target_spec is not None else target,
        "options": opts,
        "want": want,
    }


def ce_cases():
    cases = []
    # --- option grid on N=6, V=7: row 1 has a tie for the max (first index wins), the targets
    # hit the argmax on some rows, class 2 is the ignoreIndex where the grid asks for it
    n, v = 6, 7
    lg = f32(gen_values(n * v, 101, 4.0))
    lg[7 + 2] = lg[7 + 5] = 4.5  # row 1: tie between classes 2 and 5, the max
    lg[2 * 7 + 4] = 4.25  # row 2: class 4 is the max
    weight = f32([abs(t) + 0.25 for t in gen_values(v, 102, 2.0)])
    target = [3, 2, 4, 6, 2, 0]
    for red, tau, cap, z, ignore, extra in itertools.product(
        ["mean", "sum", "none"], [1.0, 0.5, 2.5], [0, 3.0], [0.0, 1e-2], [False, True], ["", "smooth", "weight"]
    ):
        o = {"reduction": red}
        if tau != 1.0:
            o["temperature"] = tau
        if cap:
            o["softcap"] = cap
        if z:
            o["zLoss"] = z
        if ignore:
            o["ignoreIndex"] = 2
        if extra == "smooth":
            o["labelSmoothing"] = 0.1
        elif extra == "weight":
            o["weight"] = weight
        tag = ",".join(f"{key}={'W' if key == 'weight' else val}" for key, val in o.items())
        cases.append(ce_case(f"grid/{tag}", n, v, lg, target, o))

    # --- an external denominator (mean only): micro-batches of one step add up
    for o in (
        {"denominator": 16.0},
        {"denominator": 3.0, "ignoreIndex": 2},
        {"denominator": 9.5, "weight": weight, "zLoss": 1e-2},
        {"denominator": 0.75, "temperature": 2.0, "softcap": 3.0, "labelSmoothing": 0.1},
    ):
        o = {"reduction": "mean", **o}
        tag = ",".join(f"{key}={'W' if key == 'weight' else val}" for key, val in o.items())
        cases.append(ce_case(f"denominator/{tag}", n, v, lg, target, o))
    # the same step split in two micro-batches (rows 0-2 and 3-5) with d = 4, its tokens not ignored
    for lo, hi in ((0, 3), (3, 6)):
        o = {"reduction": "mean", "denominator": 4.0, "ignoreIndex": 2, "zLoss": 1e-2}
        cases.append(ce_case(f"denominator/split{lo}-{hi}", hi - lo, v, lg[lo * v:hi * v], target[lo:hi], o))
    cases.append(ce_case("denominator/whole", n, v, lg, target, {"reduction": "mean", "ignoreIndex": 2, "zLoss": 1e-2}))

    # --- probability targets: entropy, argmax, temperature, denominator (no accuracy)
    raw = torch.tensor(gen_values(n * v, 103, 3.0)).reshape(n, v)
    probs = f32(torch.softmax(raw, dim=1).reshape(-1).tolist())
    for o in ({"reduction": "mean"}, {"reduction": "none", "temperature": 0.5, "zLoss": 1e-2},
              {"reduction": "sum", "softcap": 3.0, "temperature": 2.0},
              {"reduction": "mean", "denominator": 4.0, "labelSmoothing": 0.1}):
        tag = ",".join(f"{key}={val}" for key, val in o.items())
        cases.append(ce_case(f"probs/{tag}", n, v, lg, {"probs": probs}, o))

    # --- ties: an all-equal row (argmax 0), a row tied at the last two classes
    lg_t = [1.0] * 5 + [0.0, 2.0, -1.0, 2.0, 2.0] + [3.0, 1.0, 3.0, 3.0, 0.0]
    for red in ("mean", "sum", "none"):
        cases.append(ce_case(f"ties/{red}", 3, 5, lg_t, [0, 3, 2], {"reduction": red}))

    # --- shapes: V = 1, 7, 33, 100 and odd N
    for (n_, v_) in [(1, 1), (3, 1), (5, 7), (2, 33), (3, 100)]:
        l_ = f32(gen_values(n_ * v_, 110 + v_, 5.0))
        t_ = gen_targets(n_, 120 + v_, v_)
        for o in ({"reduction": "mean", "temperature": 0.7},
                  {"reduction": "none", "temperature": 1.5, "zLoss": 1e-3, "labelSmoothing": 0.2}):
            cases.append(ce_case(f"shape/{n_}x{v_}/{o['reduction']}", n_, v_, l_, t_, dict(o)))

    # --- extreme logits, -Infinity masks
    n_, v_ = 3, 9
    l_ = f32(gen_values(n_ * v_, 130, 1e4))
    l_[0] = 1e4
    for o in ({"reduction": "mean", "temperature": 0.5}, {"reduction": "none", "temperature": 3.0, "zLoss": 1e-4},
              {"reduction": "sum", "softcap": 30.0, "temperature": 2.0}):
        cases.append(ce_case(f"extreme/pm1e4/{o['reduction']}", n_, v_, l_, [0, 4, 8], dict(o)))
    n_, v_ = 3, 6
    l_ = f32(gen_values(n_ * v_, 140, 3.0))
    for i in (1, 4, 8, 13, 17):
        l_[i] = NEG_INF
    for o in ({"reduction": "mean", "temperature": 0.5}, {"reduction": "none", "zLoss": 0.01},
              {"reduction": "sum", "softcap": 5.0, "temperature": 2.0}):
        cases.append(ce_case(f"mask/neginf/{o['reduction']}", n_, v_, l_, [0, 3, 2], dict(o)))

    # --- every token ignored: accuracy and entropy 0/0 under mean, 0 under sum
    n_, v_ = 4, 5
    l_ = f32(gen_values(n_ * v_, 150, 2.0))
    for red in ("mean", "sum", "none"):
        cases.append(ce_case(f"ignore/all/{red}", n_, v_, l_, [-100] * n_, {"reduction": red, "zLoss": 0.01}))

    # --- a GPT-2 sized vocabulary, gradient sampled
    n_, v_ = 3, 50257
    spec_l = {"gen": "values", "count": n_ * v_, "seed": 160, "scale": 8.0}
    spec_t = {"gen": "targets", "count": n_, "seed": 161, "v": v_}
    l_ = gen_values(n_ * v_, 160, 8.0)
    t_ = gen_targets(n_, 161, v_)
    sample = sorted(set(list(range(0, n_ * v_, 97)) + [i * v_ + t for i, t in enumerate(t_)] + [n_ * v_ - 1]))
    for o in ({"reduction": "mean", "temperature": 0.8, "zLoss": 1e-4},
              {"reduction": "none", "softcap": 30.0, "temperature": 1.25}):
        cases.append(ce_case(f"vocab/50257/{o['reduction']}", n_, v_, l_, t_, dict(o), sample_grad=sample,
                             logits_spec=spec_l, target_spec=spec_t))
    return cases


# ---------------------------------------------------------------------------------------------
# Distillation: KL, reverse KL, generalized JSD
# ---------------------------------------------------------------------------------------------


def kl_rows(log_a, log_b):
    """Σ_j a_j·(log a_j - log b_j) per row, 0·log 0 = 0, with a gradient that stays finite."""
    a = log_a.exp()
    pos = a > 0
    zero = torch.zeros_like(log_a)
    la = torch.where(pos, log_a, zero)
    lb = torch.where(pos, log_b, zero)
    return torch.where(pos, a * (la - lb), zero).sum(-1)


def divergence_rows(kind, beta, log_q, log_p):
    """Per-row divergence of the student Q from the teacher P (no T² yet)."""
    if kind == "kl" or (kind == "jsd" and beta == 0):
        return kl_rows(log_p, log_q)
    if kind == "reverse-kl" or (kind == "jsd" and beta == 1):
        return kl_rows(log_q, log_p)
    log_m = mixture_log(beta, log_q, log_p)
    return beta * kl_rows(log_p, log_m) + (1 - beta) * kl_rows(log_q, log_m)


def mixture_log(beta, log_q, log_p):
    """log M, M = β·P + (1-β)·Q; where both are 0, -inf with a finite gradient."""
    both = (log_p == NEG_INF) & (log_q == NEG_INF)
    zero = torch.zeros_like(log_p)
    lp = torch.where(both, zero, log_p + math.log(beta))
    lq = torch.where(both, zero, log_q + math.log1p(-beta))
    return torch.where(both, torch.full_like(log_p, NEG_INF), torch.logsumexp(torch.stack([lp, lq]), dim=0))


def check_against_kl_div(kind, beta, log_q, log_p, rows):
    """The rows above equal F.kl_div's (log_target=True where every probability is > 0, else
    F.kl_div on probabilities, whose xlogy gives 0·log 0 = 0)."""
    def kl(inp, tgt_log):
        if torch.isfinite(tgt_log).all():
            return F.kl_div(inp, tgt_log, reduction="none", log_target=True).sum(-1)
        # where both probabilities are 0 F.kl_div still gives 0·(-inf) = NaN: those terms are 0
        el = F.kl_div(inp, tgt_log.exp(), reduction="none", log_target=False)
        return torch.where(tgt_log == NEG_INF, torch.zeros_like(el), el).sum(-1)

    with torch.no_grad():
        if kind == "kl" or (kind == "jsd" and beta == 0):
            want = kl(log_q, log_p)
        elif kind == "reverse-kl" or (kind == "jsd" and beta == 1):
            want = kl(log_p, log_q)
        else:
            log_m = torch.logsumexp(torch.stack([log_p + math.log(beta), log_q + math.log1p(-beta)]), dim=0)
            want = beta * kl(log_m, log_p) + (1 - beta) * kl(log_m, log_q)
        got = rows.detach()
        same = torch.isclose(got, want, rtol=1e-12, atol=1e-12) | (torch.isinf(got) & (got == want))
        assert bool(same.all()), f"definition and F.kl_div disagree: {got} vs {want}"


def distill_case(name, n, v, student, teacher, opts, target=None, sample_grad=None, specs=None):
    s = torch.tensor(student).reshape(n, v).clone().requires_grad_(True)
    t = torch.tensor(teacher).reshape(n, v)
    kind = opts.get("kind", "kl")
    beta = opts.get("beta", 0.5)
    temp = opts.get("temperature", 1.0)
    red = opts.get("reduction", "batchmean")
    ign = opts.get("ignoreIndex", -100)
    log_q = torch.log_softmax(s / temp, dim=1)
    log_p = torch.log_softmax(t / temp, dim=1)
    rows = divergence_rows(kind, beta, log_q, log_p)
    check_against_kl_div(kind, beta, log_q, log_p, rows)
    if kind == "kl" and target is None and temp == 1.0 and red == "batchmean":
        # PyTorch's own batchmean: the sum over (N, V) divided by N
        with torch.no_grad():
            bm = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
            assert torch.isclose(bm, rows.sum() / n, rtol=1e-12, atol=1e-15) or not torch.isfinite(bm)
    rows = rows * temp * temp
    if target is not None:
        valid = torch.tensor(target) != ign
        rows = torch.where(valid, rows, torch.zeros_like(rows))
        count = float(valid.sum())
    else:
        count = float(n)
    if red == "none":
        loss = None
        total = rows.sum()
    else:
        loss = rows.sum() / count if red == "batchmean" else rows.sum()
        total = loss
    if count > 0 or red != "batchmean":
        total.backward()
        g = s.grad.reshape(-1).tolist()
    else:
        g = [0.0] * (n * v)  # 0/0: NaN loss, and no token to give a gradient
    want = {
        "loss": None if loss is None else float(loss.detach()),
        "rowLoss": [float(r) for r in rows.detach().tolist()],
    }
    if sample_grad is None:
        want["grad"] = g
    else:
        want["gradIndex"] = sample_grad
        want["grad"] = [g[i] for i in sample_grad]
    case = {
        "name": name,
        "n": n,
        "v": v,
        "student": specs[0] if specs else student,
        "teacher": specs[1] if specs else teacher,
        "options": opts,
        "want": want,
    }
    if target is not None:
        case["target"] = target
    return case


KINDS = [("kl", None), ("reverse-kl", None), ("jsd", 0.0), ("jsd", 0.1), ("jsd", 0.5), ("jsd", 0.9), ("jsd", 1.0)]


def kind_opts(kind, beta):
    o = {"kind": kind}
    if beta is not None:
        o["beta"] = beta
    return o


def distill_cases():
    cases = []
    # --- grid on N=5, V=7: kind × temperature × reduction × mask
    n, v = 5, 7
    st = f32(gen_values(n * v, 201, 4.0))
    te = f32(gen_values(n * v, 202, 4.0))
    tg = [3, -100, 0, 6, -100]
    for (kind, beta), temp, red, masked in itertools.product(KINDS, [1.0, 2.5, 0.5], ["batchmean", "sum", "none"],
                                                             [False, True]):
        o = kind_opts(kind, beta)
        if temp != 1.0:
            o["temperature"] = temp
        o["reduction"] = red
        tag = ",".join(f"{key}={val}" for key, val in o.items())
        cases.append(distill_case(f"grid/{tag}{',target' if masked else ''}", n, v, st, te, o,
                                  target=tg if masked else None))
    # a custom ignoreIndex that is also a valid class
    cases.append(distill_case("grid/ignoreIndex=0", n, v, st, te, {"kind": "jsd", "beta": 0.3, "ignoreIndex": 0},
                              target=[0, 1, 0, 6, 2]))
    # every token masked
    for red in ("batchmean", "sum", "none"):
        cases.append(distill_case(f"mask/all/{red}", n, v, st, te, {"kind": "kl", "reduction": red},
                                  target=[-100] * n))
    # the student equal to the teacher: every divergence is 0, so is the gradient
    for kind, beta in KINDS:
        cases.append(distill_case(f"equal/{kind}{'' if beta is None else beta}", n, v, st, st, kind_opts(kind, beta)))

    # --- shapes: V = 1, 7, 33, 100, odd N
    for (n_, v_) in [(1, 1), (3, 1), (4, 7), (2, 33), (3, 100)]:
        s_ = f32(gen_values(n_ * v_, 210 + v_, 5.0))
        t_ = f32(gen_values(n_ * v_, 220 + v_, 5.0))
        for kind, beta in (("kl", None), ("reverse-kl", None), ("jsd", 0.5)):
            o = {**kind_opts(kind, beta), "temperature": 1.5}
            cases.append(distill_case(f"shape/{n_}x{v_}/{kind}", n_, v_, s_, t_, o))

    # --- extreme logits: ±1e4 (near one-hot, underflowing probabilities)
    n_, v_ = 3, 9
    s_ = f32(gen_values(n_ * v_, 230, 1e4))
    t_ = f32(gen_values(n_ * v_, 231, 1e4))
    s_[0] = t_[0] = 1e4  # row 0: both peak at class 0
    for kind, beta in KINDS:
        for temp in (1.0, 100.0):
            o = {**kind_opts(kind, beta), "temperature": temp, "reduction": "none"}
            cases.append(distill_case(f"extreme/pm1e4/{kind}{'' if beta is None else beta}/T={temp}", n_, v_, s_, t_, o))

    # --- -Infinity masks
    n_, v_ = 3, 6
    base_s = f32(gen_values(n_ * v_, 240, 3.0))
    base_t = f32(gen_values(n_ * v_, 241, 3.0))
    # the same columns masked in both (a padded vocabulary): every kind finite
    s_, t_ = list(base_s), list(base_t)
    for i in (1, 4, 8, 17):
        s_[i] = t_[i] = NEG_INF
    for kind, beta in KINDS:
        cases.append(distill_case(f"mask/both/{kind}{'' if beta is None else beta}", n_, v_, s_, t_,
                                  {**kind_opts(kind, beta), "reduction": "none"}))
    # the teacher alone masked: KL(P‖Q) and the JSD stay finite
    s_, t_ = list(base_s), list(base_t)
    for i in (1, 4, 8, 17):
        t_[i] = NEG_INF
    for kind, beta in (("kl", None), ("jsd", 0.0), ("jsd", 0.5), ("jsd", 0.9)):
        cases.append(distill_case(f"mask/teacher/{kind}{'' if beta is None else beta}", n_, v_, s_, t_,
                                  {**kind_opts(kind, beta), "reduction": "none", "temperature": 2.0}))
    # the student alone masked: KL(Q‖P) and the JSD stay finite; KL(P‖Q) is +Infinity with a
    # finite gradient (Q - P), as cross-entropy with a -Infinity target logit
    s_, t_ = list(base_s), list(base_t)
    for i in (1, 4, 8, 17):
        s_[i] = NEG_INF
    for kind, beta in (("kl", None), ("reverse-kl", None), ("jsd", 0.1), ("jsd", 0.5), ("jsd", 1.0)):
        cases.append(distill_case(f"mask/student/{kind}{'' if beta is None else beta}", n_, v_, s_, t_,
                                  {**kind_opts(kind, beta), "reduction": "none"}))

    # --- a GPT-2 sized vocabulary, gradient sampled
    n_, v_ = 2, 50257
    specs = ({"gen": "values", "count": n_ * v_, "seed": 250, "scale": 8.0},
             {"gen": "values", "count": n_ * v_, "seed": 251, "scale": 8.0})
    s_ = gen_values(n_ * v_, 250, 8.0)
    t_ = gen_values(n_ * v_, 251, 8.0)
    sample = sorted(set(list(range(0, n_ * v_, 89)) + [n_ * v_ - 1]))
    for kind, beta in (("kl", None), ("reverse-kl", None), ("jsd", 0.5)):
        o = {**kind_opts(kind, beta), "temperature": 2.0}
        cases.append(distill_case(f"vocab/50257/{kind}", n_, v_, s_, t_, o, sample_grad=sample, specs=specs))
    return cases


def main():
    out = {
        "generator": "scripts/make_fixtures_lm.py",
        "torch": torch.__version__,
        "dtype": "float64",
        "crossEntropy": ce_cases(),
        "distillation": distill_cases(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "torch-lm-outputs.json")
    with open(path, "w") as f:
        json.dump(portable(out), f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {len(out['crossEntropy'])} cross-entropy and {len(out['distillation'])} distillation cases "
          f"to {os.path.normpath(path)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
