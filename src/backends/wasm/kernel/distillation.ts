// The distillation kernel (AssemblyScript, SIMD128): KL(P‖Q), KL(Q‖P) or the generalized JSD of
// the student's distribution Q = softmax(s/T) from the teacher's P = softmax(t/T), per-row loss
// T²·D and optionally the gradient w.r.t. s, for rows [row0, row1) of (N, V) float32 logits.
// It vectorises the js kernel's algorithm (src/backends/js/distillation.ts; formulas there):
// 1. the maxes of s and t;
// 2. e_j = exp((s_j − max s)/T) (kept in the float64 scratch row) and exp((t_j − max t)/T),
//    summed, with the KL's linear term Σ exp(·)·(t_j − s_j) in float64;
// 3. the gradient: Q_j − P_j ("kl"), Q_j·((s_j − t_j)/T − E_Q[c − u]) ("reverse-kl");
//    for the JSD a scalar sweep (one log per element) for the two KL(·‖M) sums and
//    r_j = Q_j·(log Q_j − log M_j) in the scratch row, then g_j = (1−β)·(r_j − KL(Q‖M)·Q_j).
// exps are float32 (exp4); sums and the per-row loss are float64. The student's row is only read
// until the last sweep, which reads each element before writing it (inplace works). Terms whose
// weight is 0 are masked out, so −Infinity logits give no NaN. Rows are independent: any split
// of rows over threads gives bitwise-identical results.
import {
  DI_BETA, DI_GRAD, DI_GRAD_SCALE, DI_JSD, DI_KIND, DI_KL, DI_ROW_LOSS, DI_STUDENT, DI_TARGET, DI_TEACHER, DI_TEMPERATURE, DI_V,
} from "./abi";
import { exp1, exp4 } from "./exp";
import { demote2, hsum2, promoteHigh, promoteLow, rowMax } from "./simd";

// @ts-ignore: decorator
@inline const BLOCK: i32 = 16; // float32x4 vectors summed in float32 before a float64 add

// @ts-ignore: decorator
@inline function at(p: usize, j: i32): usize {
  return p + (<usize>j << 2);
}

// @ts-ignore: decorator
@inline function at8(p: usize, j: i32): usize {
  return p + (<usize>j << 3);
}

// Sums of the current row, set by sums().
let gSumS: f64 = 0; // Σ exp((s_j − max s)/T)
let gSumT: f64 = 0; // Σ exp((t_j − max t)/T)
let gLin: f64 = 0; // Σ exp((t_j − max t)/T)·(t_j − s_j) ("kl") or Σ e_j·(s_j − t_j) ("reverse-kl")

/** Sweep 2: the sums of exps, e_j into scratch (float64), and the KL's linear term. */
function sums(s: usize, t: usize, v: i32, ms: f32, mt: f32, invT: f32, kind: i32, scratch: usize): void {
  const ms4 = f32x4.splat(ms);
  const mt4 = f32x4.splat(mt);
  const iT4 = f32x4.splat(invT);
  const zero2 = f64x2.splat(0);
  const lin = kind != DI_JSD;
  let s0 = zero2;
  let s1 = zero2;
  let t0 = zero2;
  let t1 = zero2;
  let l0 = zero2;
  let l1 = zero2;
  let j = 0;
  while (j + 4 <= v) {
    const end = min(v & ~3, j + (BLOCK << 2));
    let bs = f32x4.splat(0);
    let bt = f32x4.splat(0);
    for (; j < end; j += 4) {
      const x = v128.load(at(s, j));
      const y = v128.load(at(t, j));
      const es = exp4(f32x4.mul(f32x4.sub(x, ms4), iT4));
      const et = exp4(f32x4.mul(f32x4.sub(y, mt4), iT4));
      const es0 = promoteLow(es);
      const es1 = promoteHigh(es);
      v128.store(at8(scratch, j), es0);
      v128.store(at8(scratch, j) + 16, es1);
      bs = f32x4.add(bs, es);
      bt = f32x4.add(bt, et);
      if (lin) {
        // kl: Σ et·(y − x); reverse-kl: Σ es·(x − y); masked where the weight is 0 (0·∞ = NaN)
        let w0 = es0;
        let w1 = es1;
        let d0 = f64x2.sub(promoteLow(x), promoteLow(y));
        let d1 = f64x2.sub(promoteHigh(x), promoteHigh(y));
        if (kind == DI_KL) {
          w0 = promoteLow(et);
          w1 = promoteHigh(et);
          d0 = f64x2.neg(d0);
          d1 = f64x2.neg(d1);
        }
        l0 = f64x2.add(l0, v128.and(f64x2.mul(w0, d0), f64x2.gt(w0, zero2)));
        l1 = f64x2.add(l1, v128.and(f64x2.mul(w1, d1), f64x2.gt(w1, zero2)));
      }
    }
    s0 = f64x2.add(s0, promoteLow(bs));
    s1 = f64x2.add(s1, promoteHigh(bs));
    t0 = f64x2.add(t0, promoteLow(bt));
    t1 = f64x2.add(t1, promoteHigh(bt));
  }
  let ss = hsum2(f64x2.add(s0, s1));
  let st = hsum2(f64x2.add(t0, t1));
  let l = hsum2(f64x2.add(l0, l1));
  for (; j < v; j++) {
    const x = load<f32>(at(s, j));
    const y = load<f32>(at(t, j));
    const es = <f64>exp1((x - ms) * invT);
    const et = <f64>exp1((y - mt) * invT);
    store<f64>(at8(scratch, j), es);
    ss += es;
    st += et;
    if (kind == DI_KL) {
      if (et > 0) l += et * (<f64>y - <f64>x);
    } else if (lin) {
      if (es > 0) l += es * (<f64>x - <f64>y);
    }
  }
  gSumS = ss;
  gSumT = st;
  gLin = l;
}

/**
 * Rows [row0, row1) of the distillation loss. `params` is the struct of distillationAbi.ts;
 * `scratch` is this thread's float64 row (V).
 */
export function distillationRows(params: usize, row0: i32, row1: i32, scratch: usize): void {
  const beta = load<f64>(params + DI_BETA);
  const T = load<f64>(params + DI_TEMPERATURE);
  const k = load<f64>(params + DI_GRAD_SCALE);
  const student = <usize>load<u32>(params + DI_STUDENT);
  const teacher = <usize>load<u32>(params + DI_TEACHER);
  const grad = <usize>load<u32>(params + DI_GRAD);
  const target = <usize>load<u32>(params + DI_TARGET);
  const rowLoss = <usize>load<u32>(params + DI_ROW_LOSS);
  const v = load<i32>(params + DI_V);
  const kind = load<i32>(params + DI_KIND);
  const invT = <f32>(1 / T);
  const invT64 = 1 / T;
  const rowBytes = <usize>v << 2;

  for (let i = row0; i < row1; i++) {
    const s = student + <usize>i * rowBytes;
    const t = teacher + <usize>i * rowBytes;
    const g = grad != 0 ? grad + <usize>i * rowBytes : 0;
    if (target != 0 && load<i32>(target + (<usize>i << 2)) < 0) {
      store<f64>(rowLoss + (<usize>i << 3), 0);
      if (g != 0) memory.fill(g, 0, rowBytes);
      continue;
    }
    const ms = rowMax(s, v);
    const mt = rowMax(t, v);
    sums(s, t, v, ms, mt, invT, kind, scratch);
    const ss = gSumS;
    const st = gSumT;
    const lseS = <f64>ms * invT64 + Math.log(ss);
    const lseT = <f64>mt * invT64 + Math.log(st);
    const invS = 1 / ss;

    if (kind == DI_KL) {
      // D = E_P[u − c] + lse(c) − lse(u); g_j = k·(Q_j − P_j)
      store<f64>(rowLoss + (<usize>i << 3), T * T * ((gLin * invT64) / st + lseS - lseT));
      if (g == 0) continue;
      const qk = f64x2.splat(k * invS);
      const pk = f64x2.splat(k / st);
      const mt4 = f32x4.splat(mt);
      const iT4 = f32x4.splat(invT);
      let j = 0;
      for (; j + 4 <= v; j += 4) {
        const et = exp4(f32x4.mul(f32x4.sub(v128.load(at(t, j)), mt4), iT4));
        const g0 = f64x2.sub(f64x2.mul(qk, v128.load(at8(scratch, j))), f64x2.mul(pk, promoteLow(et)));
        const g1 = f64x2.sub(f64x2.mul(qk, v128.load(at8(scratch, j) + 16)), f64x2.mul(pk, promoteHigh(et)));
        v128.store(at(g, j), demote2(g0, g1));
      }
      for (; j < v; j++) {
        const et = <f64>exp1((load<f32>(at(t, j)) - mt) * invT);
        store<f32>(at(g, j), <f32>(k * invS * load<f64>(at8(scratch, j)) - (k / st) * et));
      }
      continue;
    }

    if (kind != DI_JSD) {
      // reverse KL: D = E_Q[c − u] − lse(c) + lse(u); g_j = k·Q_j·((s_j − t_j)/T − E_Q[c − u])
      const eq = gLin * invT64 * invS;
      store<f64>(rowLoss + (<usize>i << 3), T * T * (eq - lseS + lseT));
      if (g == 0) continue;
      const is2 = f64x2.splat(invS);
      const k2 = f64x2.splat(k);
      const iT2 = f64x2.splat(invT64);
      const eq2 = f64x2.splat(eq);
      const zero2 = f64x2.splat(0);
      let j = 0;
      for (; j + 4 <= v; j += 4) {
        const x = v128.load(at(s, j));
        const y = v128.load(at(t, j));
        const q0 = f64x2.mul(v128.load(at8(scratch, j)), is2);
        const q1 = f64x2.mul(v128.load(at8(scratch, j) + 16), is2);
        const a0 = f64x2.sub(f64x2.mul(f64x2.sub(promoteLow(x), promoteLow(y)), iT2), eq2);
        const a1 = f64x2.sub(f64x2.mul(f64x2.sub(promoteHigh(x), promoteHigh(y)), iT2), eq2);
        const g0 = v128.and(f64x2.mul(f64x2.mul(k2, q0), a0), f64x2.gt(q0, zero2));
        const g1 = v128.and(f64x2.mul(f64x2.mul(k2, q1), a1), f64x2.gt(q1, zero2));
        v128.store(at(g, j), demote2(g0, g1));
      }
      for (; j < v; j++) {
        const q = load<f64>(at8(scratch, j)) * invS;
        const a = (<f64>load<f32>(at(s, j)) - <f64>load<f32>(at(t, j))) * invT64 - eq;
        store<f32>(at(g, j), q > 0 ? <f32>(k * q * a) : 0);
      }
      continue;
    }

    // JSD, sweep 3 (scalar: one log per element): KL(P‖M), KL(Q‖M), r_j into scratch.
    const logSs = Math.log(ss);
    const logSt = Math.log(st);
    let klP: f64 = 0;
    let klQ: f64 = 0;
    for (let j = 0; j < v; j++) {
      const q = load<f64>(at8(scratch, j)) * invS;
      const lp = (<f64>load<f32>(at(t, j)) - <f64>mt) * invT64 - logSt;
      const p = Math.exp(lp);
      const m = beta * p + (1 - beta) * q;
      let r: f64 = 0;
      if (m > 0) {
        const lm = Math.log(m);
        if (p > 0) klP += p * (lp - lm);
        if (q > 0) r = q * ((<f64>load<f32>(at(s, j)) - <f64>ms) * invT64 - logSs - lm);
      }
      klQ += r;
      store<f64>(at8(scratch, j), r);
    }
    store<f64>(rowLoss + (<usize>i << 3), T * T * (beta * klP + (1 - beta) * klQ));
    if (g == 0) continue;

    // JSD, sweep 4: g_j = k·(1−β)·(r_j − KL(Q‖M)·Q_j), Q_j recomputed from s_j.
    const kb2 = f64x2.splat(k * (1 - beta));
    const kq2 = f64x2.splat(klQ * invS);
    const ms4 = f32x4.splat(ms);
    const iT4 = f32x4.splat(invT);
    let j = 0;
    for (; j + 4 <= v; j += 4) {
      const e = exp4(f32x4.mul(f32x4.sub(v128.load(at(s, j)), ms4), iT4));
      const g0 = f64x2.mul(kb2, f64x2.sub(v128.load(at8(scratch, j)), f64x2.mul(kq2, promoteLow(e))));
      const g1 = f64x2.mul(kb2, f64x2.sub(v128.load(at8(scratch, j) + 16), f64x2.mul(kq2, promoteHigh(e))));
      v128.store(at(g, j), demote2(g0, g1));
    }
    for (; j < v; j++) {
      const e = <f64>exp1((load<f32>(at(s, j)) - ms) * invT);
      store<f32>(at(g, j), <f32>(k * (1 - beta) * (load<f64>(at8(scratch, j)) - klQ * invS * e)));
    }
  }
}
