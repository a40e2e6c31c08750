// The fused cross-entropy kernel (AssemblyScript, SIMD128): loss, lse and optionally the gradient
// for rows [row0, row1) of (N, V) float32 logits. Every option is a parameter of this one kernel.
// It vectorises the js kernel's algorithm (src/backends/js/crossEntropy.ts; formulas there):
// - without a gradient: one read of the row in chunks of CHUNK: chunk max, rescale the running
//   sum if the max grew, then Σ exp(c − m) of the chunk (exp once per element);
// - with a gradient: pass 1 max; pass 2 e = exp(c − m) stored into the gradient row and summed;
//   pass 3 turns e into the gradient in place (inplace works: each element is read before written);
//   under softcap e goes to the scratch row and the gradient row holds 1 − tanh²(x/s) until pass 3;
//   pass 2 also reads the next row ahead (a prefetch), and pass 3 takes the next row's max
//   while it scales (scaleVectorsRowMax), so that the next row skips pass 1 (within a thread's rows).
// Row sums and the linear terms are accumulated in float64; per-row loss and lse are float64.
// Each loop is a float32x4 main loop over 4-aligned counts plus a scalar tail.
// Rows are independent, so any split of rows over threads gives bitwise-identical results.
import {
  CE_CLASS_WEIGHT, CE_CLASS_WEIGHT_SUM, CE_GRAD, CE_GRAD_SCALE, CE_LABEL_SMOOTHING, CE_LOGITS, CE_LSE, CE_PROBS, CE_ROW_LOSS,
  CE_SOFTCAP, CE_TARGET, CE_TEMPERATURE, CE_V, CE_Z_LOSS, CE_ARGMAX, CE_ENTROPY,
} from "./abi";
import { exp1, exp4, expFast4, expSumFast, expTooSmall4, fastRange, SUM_BLOCK } from "./exp";
import { demote2, gRowMin, hasNaN, hsum2, madd, promoteHigh, promoteLow, rowMax, scaleVectors, scaleVectorsRowMax, select } from "./simd";

// @ts-ignore: decorator
@inline const CHUNK: i32 = 2048; // elements per online chunk (8 KiB, stays in L1)

// Two float64 ones, read with v128.load rather than written as a literal v128 constant (see exp.ts:
// V8's Turboshaft rebuilds literal v128 constants at each use inside loops).
const ONES: usize = memory.data<f64>([1, 1], 16);

// Linear terms of the current row, set by linearTerms().
let gWc: f64 = 0; // Σ_j w_j·c_j (index, smoothing) or Σ_j w_j·t'_j·c_j (probs)
let gWt: f64 = 0; // Σ_j w_j·t'_j (probs)

// @ts-ignore: decorator
@inline function at(p: usize, j: i32): usize {
  return p + (<usize>j << 2);
}

/** The first j < n with p[j] == m (0 when none: a NaN max). The argmax, once the row's max is known. */
function firstIndexOf(p: usize, n: i32, m: f32): i32 {
  const m4 = f32x4.splat(m);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    if (v128.any_true(f32x4.eq(v128.load(at(p, j)), m4))) break;
  }
  for (; j < n; j++) if (load<f32>(at(p, j)) == m) return j;
  return 0;
}

// Σ_j e_j·(c_j − m) of the last expSum with `ent` (terms with e_j = 0 skipped), for the entropy.
let gEc: f64 = 0;
// The entropy terms of the block that the last redo() summed again.
let gRedoEc: v128 = v128.splat<i32>(0);

/**
 * Σ exp(c_j − m) over n float32 at p; stores each exp at dst when dst != 0 (dst may be p). Each
 * lane sums SUM_BLOCK vectors in float32 (at most SUM_BLOCK roundings of a partial sum), then the
 * block sums are added in float64: nearly the speed of a float32 sum, nearly the accuracy of a
 * float64 one. The inner loops run exp's fast path only (no branch, few live registers) and note
 * whether any lane fell below its range (e^x < 2^−126, −Infinity masks); such a block is redone
 * by exp4. Without entropy, a row whose every c_j − m is in the fast range (`fast`: fastRange of
 * its least c and m) takes expSumFast (exp.ts) instead: the same sums, with no test per vector.
 * For the redo, the stored value of such a lane is x itself (negative, so told apart from every
 * e^x >= 0 or NaN), as dst may have overwritten the logits. With `ent`, also Σ e_j·(c_j − m) into
 * gEc (float32 lanes, then float64 per block); lanes below exp's fast range are left out of it
 * (e_j < 2^−126 there, so each term is below 2^−119), which also keeps −Infinity's 0·∞ out.
 * Without stores such a block's entropy terms are summed again by redo(), so the fast loop adds
 * one multiply-add per vector; with stores the logits may be gone by then, so the loop masks the
 * product instead.
 * `ent` is a constant in each copy: expSum chooses between two inlined copies of the loop,
 * because V8 does not unswitch loops, and a test of `ent` in the loop costs the forward ~20%.
 */
function expSum(p: usize, n: i32, m: f32, dst: usize, ent: bool, fast: bool, ahead: usize = 0): f64 {
  if (ent) return expSumOf(p, n, m, dst, true);
  return fast ? expSumFast(p, n, m, dst, ahead) : expSumOf(p, n, m, dst, false);
}

// @ts-ignore: decorator
@inline function expSumOf(p: usize, n: i32, m: f32, dst: usize, ent: bool): f64 {
  const m4 = f32x4.splat(m);
  const zero = f32x4.splat(0);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let j = 0;
  while (j + 4 <= n) {
    const j0 = j;
    const end = min(n & ~3, j + (SUM_BLOCK << 2));
    let b = f32x4.splat(0);
    let low = f32x4.splat(0);
    let ba = zero;
    if (dst != 0) {
      for (; j < end; j += 4) {
        const x = f32x4.sub(v128.load(at(p, j)), m4);
        const e = expFast4(x);
        const small = expTooSmall4(x);
        low = v128.or(low, small);
        v128.store(at(dst, j), select(x, e, small));
        b = f32x4.add(b, e);
        // andnot clears the product's bits in lanes below exp's range (e there may be NaN): one
        // instruction, where a select of each factor is three without relaxed SIMD.
        if (ent) ba = f32x4.add(ba, v128.andnot(f32x4.mul(e, x), small));
      }
      if (v128.any_true(low)) b = redoStored(dst, j0, end);
    } else {
      for (; j < end; j += 4) {
        const x = f32x4.sub(v128.load(at(p, j)), m4);
        const small = expTooSmall4(x);
        const e = expFast4(x);
        low = v128.or(low, small);
        b = f32x4.add(b, e);
        if (ent) ba = madd(e, x, ba);
      }
      if (v128.any_true(low)) {
        b = redo(p, j0, end, m4, ent);
        if (ent) ba = gRedoEc;
      }
    }
    s0 = f64x2.add(s0, promoteLow(b));
    s1 = f64x2.add(s1, promoteHigh(b));
    if (ent) {
      a0 = f64x2.add(a0, promoteLow(ba));
      a1 = f64x2.add(a1, promoteHigh(ba));
    }
  }
  let s = hsum2(f64x2.add(s0, s1));
  let ec = hsum2(f64x2.add(a0, a1));
  for (; j < n; j++) {
    const x = load<f32>(at(p, j)) - m;
    const e = exp1(x);
    if (dst != 0) store<f32>(at(dst, j), e);
    s += <f64>e;
    if (ent && e > 0) ec += <f64>e * <f64>x;
  }
  gEc = ec;
  return s;
}

/**
 * The sum of one block of expSum (no stores) by the full exp4; with `ent` also the block's
 * entropy terms, lanes below exp's fast range left out (as the stored loop leaves them), into gRedoEc.
 */
// @ts-ignore: decorator
@inline function redo(p: usize, j0: i32, end: i32, m4: v128, ent: bool): v128 {
  const zero = f32x4.splat(0);
  let b = zero;
  let ba = zero;
  for (let j = j0; j < end; j += 4) {
    const x = f32x4.sub(v128.load(at(p, j)), m4);
    const e = exp4(x);
    b = f32x4.add(b, e);
    if (ent) {
      const small = expTooSmall4(x);
      ba = madd(select(zero, e, small), select(zero, x, small), ba);
    }
  }
  if (ent) gRedoEc = ba;
  return b;
}

/** One stored block of expSum: lanes holding x < 0 become e^x by exp4; returns the block's sum. */
// @ts-ignore: decorator
@inline function redoStored(dst: usize, j0: i32, end: i32): v128 {
  let b = f32x4.splat(0);
  for (let j = j0; j < end; j += 4) {
    const y = v128.load(at(dst, j));
    const e = select(exp4(f32x4.pmin(y, f32x4.splat(0))), y, f32x4.lt(y, f32x4.splat(0)));
    v128.store(at(dst, j), e);
    b = f32x4.add(b, e);
  }
  return b;
}

/**
 * c_j = s·tanh(x_j/s)/τ (x_j/τ without softcap, s = 0) into cap; with softcap and d != 0 also the
 * chain-rule factor 1 − tanh²(x_j/s) into d (d may be x: each x_j is read before d_j is written;
 * the 1/τ of dc_j/dx_j is in the gradient's factor). The factor is computed as
 * 1/cosh²(u) = 4e^(−2|u|)/(1 + e^(−2|u|))², which keeps its relative accuracy where tanh(u)
 * rounds to ±1 (1 − tanh² would give 0 from |u| ≈ 9 in float32, 19 in float64).
 */
function softcapRow(x: usize, cap: usize, d: usize, v: i32, s: f64, tau: f64): void {
  if (s == 0) {
    for (let j = 0; j < v; j++) store<f32>(at(cap, j), <f32>(<f64>load<f32>(at(x, j)) / tau));
    return;
  }
  for (let j = 0; j < v; j++) {
    const u = <f64>load<f32>(at(x, j)) / s;
    store<f32>(at(cap, j), <f32>((s * Math.tanh(u)) / tau));
    if (d != 0) {
      const e = Math.exp(-2 * Math.abs(u));
      store<f32>(at(d, j), <f32>((4 * e) / ((1 + e) * (1 + e))));
    }
  }
}

/**
 * The terms of the loss linear in c (float64): for probability targets Σ w_j·t'_j·c_j and
 * Σ w_j·t'_j with t' = (1−ε)·t + ε/V; for index targets with smoothing Σ w_j·c_j.
 */
function linearTerms(p: usize, n: i32, probs: usize, weight: usize, eps: f64): void {
  let wc0 = f64x2.splat(0);
  let wc1 = f64x2.splat(0);
  let wt0 = f64x2.splat(0);
  let wt1 = f64x2.splat(0);
  const a = f64x2.splat(1 - eps);
  const b = f64x2.splat(eps / <f64>n);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const c = v128.load(at(p, j));
    const c0 = promoteLow(c);
    const c1 = promoteHigh(c);
    let w0 = v128.load(ONES);
    let w1 = w0;
    if (weight != 0) {
      w0 = v128.load(weight + (<usize>j << 3));
      w1 = v128.load(weight + (<usize>j << 3) + 16);
    }
    if (probs != 0) {
      const t = v128.load(at(probs, j));
      w0 = f64x2.mul(w0, f64x2.add(f64x2.mul(a, promoteLow(t)), b));
      w1 = f64x2.mul(w1, f64x2.add(f64x2.mul(a, promoteHigh(t)), b));
      wt0 = f64x2.add(wt0, w0);
      wt1 = f64x2.add(wt1, w1);
    }
    wc0 = f64x2.add(wc0, f64x2.mul(w0, c0));
    wc1 = f64x2.add(wc1, f64x2.mul(w1, c1));
  }
  let wc = hsum2(f64x2.add(wc0, wc1));
  let wt = hsum2(f64x2.add(wt0, wt1));
  for (; j < n; j++) {
    let w: f64 = weight != 0 ? load<f64>(weight + (<usize>j << 3)) : 1;
    if (probs != 0) {
      w *= (1 - eps) * <f64>load<f32>(at(probs, j)) + eps / <f64>n;
      wt += w;
    }
    wc += w * <f64>load<f32>(at(p, j));
  }
  gWc = wc;
  gWt = wt;
}

/**
 * Rows [row0, row1) of the fused cross-entropy. `params` is the call's struct (fields in abi.ts):
 * addresses are byte offsets in this memory, 0 means absent. logits, grad, probs: (N, V) float32;
 * target: (N) int32 (−1 ignored); classWeight: (V) float64; rowLoss, lse: (N) float64 outputs;
 * gradScale is the gradient's factor (1/D for mean, times 1/τ), classWeightSum = Σ_j w_j;
 * temperature τ: the softmax sees softcap(x)/τ; argmax: (N) int32 output, entropy: (N) float64
 * output, or 0. scratch: (V) float32 of this thread, needed with softcap or τ ≠ 1.
 */
export function crossEntropyRows(params: usize, row0: i32, row1: i32, scratch: usize): void {
  const logits = <usize>load<u32>(params, CE_LOGITS);
  const grad = <usize>load<u32>(params, CE_GRAD);
  const target = <usize>load<u32>(params, CE_TARGET);
  const probs = <usize>load<u32>(params, CE_PROBS);
  const weight = <usize>load<u32>(params, CE_CLASS_WEIGHT);
  const rowLoss = <usize>load<u32>(params, CE_ROW_LOSS);
  const lse = <usize>load<u32>(params, CE_LSE);
  const v = load<i32>(params, CE_V);
  const eps = load<f64>(params, CE_LABEL_SMOOTHING);
  const z = load<f64>(params, CE_Z_LOSS);
  const s = load<f64>(params, CE_SOFTCAP);
  const tau = load<f64>(params, CE_TEMPERATURE);
  const argmax = <usize>load<u32>(params, CE_ARGMAX);
  const entropy = <usize>load<u32>(params, CE_ENTROPY);
  const ent = entropy != 0;
  const scale = load<f64>(params, CE_GRAD_SCALE);
  const wSum = load<f64>(params, CE_CLASS_WEIGHT_SUM);
  const rowBytes = <usize>v << 2;
  // Whether a row's pass 3 may take the next row's max (scaleVectorsRowMax): a gradient, no
  // options that pass 3 or pass 1 handle otherwise; then nextM and nextLo hold it for that row.
  const fuseMax = grad != 0 && s == 0 && tau == 1 && argmax == 0 && probs == 0 && eps == 0;
  let hasNext = false;
  let nextM: f32 = NaN;
  let nextLo: f32 = NaN;
  for (let i = row0; i < row1; i++) {
    const known = hasNext;
    hasNext = false;
    const xRow = logits + <usize>i * rowBytes;
    const gRow = grad != 0 ? grad + <usize>i * rowBytes : 0;
    const tRow = probs != 0 ? probs + <usize>i * rowBytes : 0;
    const ignored = target != 0 && load<i32>(target + (<usize>i << 2)) < 0;
    const y = target != 0 && !ignored ? load<i32>(target + (<usize>i << 2)) : -1;

    // The row the softmax sees: the logits, or softcap(x)/τ in scratch (V, never N×V).
    // With a gradient, softcap's chain-rule factor 1 − tanh²(x/s) is stored where the gradient
    // goes (the logits are not needed again; inplace reads each before writing it), and pass 2
    // then writes the exps over the capped row in scratch.
    const online = gRow == 0 || ignored;
    let c = xRow;
    if (s > 0 || tau != 1) {
      softcapRow(xRow, scratch, online ? 0 : gRow, v, s, tau);
      c = scratch;
    }
    if (probs != 0 || (eps > 0 && !ignored)) linearTerms(c, v, tRow, weight, eps);

    let m: f32 = -Infinity;
    let sum: f64 = 0;
    let ec: f64 = 0; // Σ_j e_j·(c_j − m), for the entropy log Σe − ec/Σe
    let mAt = 0; // the chunk where the max first reached its final value (online, or with argmax)
    let lo: f32 = NaN; // the row's least c (pass 1 with a gradient), for exp's fastRange
    if (online) {
      for (let j0 = 0; j0 < v; j0 += CHUNK) {
        const len = min(CHUNK, v - j0);
        const cm = rowMax(at(c, j0), len);
        const chunkLo = gRowMin;
        if (cm > m) {
          if (m != -Infinity) {
            const r = Math.exp(<f64>m - <f64>cm);
            if (ent) ec = (ec + sum * (<f64>m - <f64>cm)) * r;
            sum *= r;
          }
          m = cm;
          mAt = j0;
        } else if (isNaN(cm)) {
          m = cm;
        }
        if (m == -Infinity) {
          // The sum skips this chunk, and pmax skipped any NaN in it: a NaN among −Infinity before
          // a finite max would be lost (rare: scanned only then).
          if (hasNaN(at(c, j0), len)) sum = NaN;
          continue;
        }
        sum += expSum(at(c, j0), len, m, 0, ent, fastRange(chunkLo, m));
        if (ent) ec += gEc;
      }
    } else if (argmax != 0) {
      // Pass 1 by chunks, noting where the max first appears (for the argmax below).
      lo = Infinity;
      for (let j0 = 0; j0 < v; j0 += CHUNK) {
        const cm = rowMax(at(c, j0), min(CHUNK, v - j0));
        lo = min<f32>(lo, gRowMin);
        if (cm > m) {
          m = cm;
          mAt = j0;
        } else if (isNaN(cm)) {
          m = cm;
        }
      }
    } else if (known) {
      m = nextM;
      lo = nextLo;
    } else {
      m = rowMax(c, v);
      lo = gRowMin;
    }
    // A max of ±Infinity may hide a NaN that pmax skipped (rare: scanned only then).
    if ((m == Infinity || m == -Infinity) && hasNaN(c, v)) m = NaN;
    // The argmax, read before pass 2 may overwrite the row (inplace, or the scratch row): the first
    // element equal to the max lies in the chunk that first reached it (earlier chunks have
    // smaller maxima), so only that chunk is scanned again.
    if (argmax != 0) {
      const k = !isNaN(m) ? mAt + firstIndexOf(at(c, mAt), min(CHUNK, v - mAt), m) : firstIndexOf(c, v, m);
      store<i32>(argmax + (<usize>i << 2), k);
    }
    // c_y, read before pass 2 may overwrite the logits (inplace).
    const cy: f64 = y >= 0 ? <f64>load<f32>(at(c, y)) : 0;
    const wy: f64 = y >= 0 && weight != 0 ? load<f64>(weight + (<usize>y << 3)) : 1;
    // Where pass 2 stores e_j: the gradient row, or under softcap the scratch row (over c).
    const eRow = s > 0 ? scratch : gRow;
    if (!online) {
      // Pass 2: e_j = exp(c_j − m) stored, and summed; meanwhile the next row of this thread's
      // rows is read into cache for its pass 1 (expSumFast's `ahead`).
      sum = expSum(c, v, m, eRow, ent, fastRange(lo, m), i + 1 < row1 && c == xRow ? xRow + rowBytes : 0);
      ec = gEc;
    }
    // +Infinity: lse is +Infinity, but the softmax is inf − inf, so the loss and gradient are NaN.
    const l: f64 = m == -Infinity ? -Infinity : m == Infinity ? NaN : <f64>m + Math.log(sum);
    store<f64>(lse + (<usize>i << 3), m == Infinity ? Infinity : l);
    if (ent) store<f64>(entropy + (<usize>i << 3), Math.log(sum) - ec / sum);
    if (ignored) {
      store<f64>(rowLoss + (<usize>i << 3), 0);
      if (gRow != 0) memory.fill(gRow, 0, rowBytes);
      continue;
    }

    let loss: f64;
    let a: f64;
    if (probs == 0) {
      loss = (1 - eps) * wy * (l - cy);
      a = (1 - eps) * wy;
      if (eps > 0) {
        loss += (eps / <f64>v) * (wSum * l - gWc);
        a += (eps / <f64>v) * wSum;
      }
    } else {
      loss = l * gWt - gWc;
      a = gWt;
    }
    if (z > 0) {
      loss += z * l * l;
      a += 2 * z * l;
    }
    store<f64>(rowLoss + (<usize>i << 3), loss);
    if (gRow == 0) continue;

    // The softcap factor of the target's class, before pass 3 overwrites it.
    const dy: f64 = s > 0 && y >= 0 ? <f64>load<f32>(at(gRow, y)) : 1;
    // Pass 3: g_j = scale·(A·e_j/Σe − B_j)·(1 − tanh²(x_j/s)), into the gradient row.
    const k = (scale * a) / sum;
    const kb: f64 = probs == 0 ? (scale * eps) / <f64>v : scale * (1 - eps);
    const kc: f64 = probs == 0 ? 0 : (scale * eps) / <f64>v;
    const hasB = probs != 0 || eps > 0;
    let j = 0;
    if (fuseMax && i + 1 < row1) {
      nextM = scaleVectorsRowMax(gRow, v, f32x4.splat(<f32>k), xRow + rowBytes);
      nextLo = gRowMin;
      hasNext = true;
      j = v & ~3;
    } else if (!hasB && s == 0) {
      j = scaleVectors(gRow, v, f32x4.splat(<f32>k));
    } else {
      const k2 = f64x2.splat(k);
      const kb2 = f64x2.splat(kb);
      const kc2 = f64x2.splat(kc);
      const one = v128.load(ONES);
      for (; j + 4 <= v; j += 4) {
        const e = v128.load(at(eRow, j));
        let g0 = f64x2.mul(k2, promoteLow(e));
        let g1 = f64x2.mul(k2, promoteHigh(e));
        if (hasB) {
          let w0 = one;
          let w1 = one;
          if (weight != 0) {
            w0 = v128.load(weight + (<usize>j << 3));
            w1 = v128.load(weight + (<usize>j << 3) + 16);
          }
          if (probs != 0) {
            const t = v128.load(at(tRow, j));
            w0 = f64x2.mul(w0, f64x2.add(f64x2.mul(kb2, promoteLow(t)), kc2));
            w1 = f64x2.mul(w1, f64x2.add(f64x2.mul(kb2, promoteHigh(t)), kc2));
          } else {
            w0 = f64x2.mul(w0, kb2);
            w1 = f64x2.mul(w1, kb2);
          }
          g0 = f64x2.sub(g0, w0);
          g1 = f64x2.sub(g1, w1);
        }
        if (s > 0) {
          const d = v128.load(at(gRow, j));
          g0 = f64x2.mul(g0, promoteLow(d));
          g1 = f64x2.mul(g1, promoteHigh(d));
        }
        v128.store(at(gRow, j), demote2(g0, g1));
      }
    }
    for (; j < v; j++) {
      let g = k * <f64>load<f32>(at(eRow, j));
      const w: f64 = weight != 0 ? load<f64>(weight + (<usize>j << 3)) : 1;
      if (probs != 0) {
        g -= (kb * <f64>load<f32>(at(tRow, j)) + kc) * w;
      } else if (eps > 0) {
        g -= kb * w;
      }
      if (s > 0) g *= <f64>load<f32>(at(gRow, j));
      store<f32>(at(gRow, j), <f32>g);
    }
    if (probs == 0) {
      let gy = k * Math.exp(cy - <f64>m);
      if (eps > 0) gy -= kb * wy;
      gy -= scale * (1 - eps) * wy;
      store<f32>(at(gRow, y), <f32>(gy * dy));
    }
  }
}
