// The slice backward (AssemblyScript, SIMD128): dL/dx for the classes [v0, v1) of rows [0, n)
// from the merged statistics (mergeStats in src/backends/common.ts), as the fused kernel's pass 3
// but with the full row's max M and sum S:
//   g_j = scale·(A·exp(c_j − M)/S − B_j)·(1 − (c_j/s)²)
//   index: B_j = (ε/V)·w_j + (1−ε)·w_y·[j=y]      probs: B_j = w_j·((1−ε)·t_j + ε/V)
// Layout as rowStats (rowStats.ts): element (i, j) of logits, grad and probs at
// base + 4·(i·ld + j − col0); merged is (3, N) float64: M, S, A per row. Ignored rows (target < 0)
// get zeros. Each element is read before it is written, and c_y before the row's loop, so grad may
// be the logits (inplace).
// The exps are taken against the slice's own max m_k, g_j = scale·(A·e^(m_k − M)/S)·e_j − …, with
// e_j = exp(c_j − m_k): with `stats` (this slice's (5, N) statistics from rowStats, no softcap),
// grad already holds those e_j, stored by rowStats, and no exp is recomputed (the logits are not
// read: rowStats may have overwritten them); without, they are computed here. Same bits either way.
import { SL_CLASS_WEIGHT, SL_COL0, SL_GRAD, SL_GRAD_SCALE, SL_LABEL_SMOOTHING, SL_LD, SL_LOGITS, SL_MERGED, SL_N, SL_PROBS, SL_REUSE_EXPS, SL_SOFTCAP, SL_STATS, SL_TARGET, SL_V, SL_V0, SL_V1, SL_WIDTH } from "./abi";
import { exp1, exp4 } from "./exp";
import { cappedRow } from "./rowStats";
import { demote2, promoteHigh, promoteLow, rowMax, scaleVectors } from "./simd";

// @ts-ignore: decorator
@inline function at(p: usize, j: i32): usize {
  return p + (<usize>j << 2);
}

/**
 * The gradient of the vocabulary slices [item0, item1) of the call whose struct (abi.ts: SL_*)
 * lies at `params` (items as in rowStats). With SL_REUSE_EXPS, item k's statistics at
 * stats + 40·N·k say which exps rowStats left in grad. `scratch`: the thread's softcap row, or 0.
 */
export function sliceBackward(params: usize, item0: i32, item1: i32, scratch: usize): void {
  const n = load<i32>(params, SL_N);
  const base = load<i32>(params, SL_V0);
  const end = load<i32>(params, SL_V1);
  const width = load<i32>(params, SL_WIDTH);
  const reuse = load<i32>(params, SL_REUSE_EXPS) != 0;
  const stats = <usize>load<u32>(params, SL_STATS);
  for (let k = item0; k < item1; k++) {
    const v0 = base + k * width;
    const v1 = min(end, v0 + width);
    sliceGrad(
      <usize>load<u32>(params, SL_LOGITS), <usize>load<u32>(params, SL_GRAD), <usize>load<u32>(params, SL_PROBS), load<i32>(params, SL_LD),
      load<i32>(params, SL_COL0), <usize>load<u32>(params, SL_TARGET), <usize>load<u32>(params, SL_CLASS_WEIGHT), scratch,
      <usize>load<u32>(params, SL_MERGED), n, load<i32>(params, SL_V), v0, v1, load<f64>(params, SL_LABEL_SMOOTHING),
      load<f64>(params, SL_SOFTCAP), load<f64>(params, SL_GRAD_SCALE), reuse ? stats + <usize>(40 * n * k) : 0,
    );
  }
}

function sliceGrad(
  logits: usize,
  grad: usize,
  probs: usize,
  ld: i32,
  col0: i32,
  target: usize,
  weight: usize,
  scratch: usize,
  merged: usize,
  n: i32,
  v: i32,
  v0: i32,
  v1: i32,
  eps: f64,
  s: f64,
  scale: f64,
  stats: usize,
): void {
  const width = v1 - v0;
  const wSlice = weight != 0 ? weight + (<usize>v0 << 3) : 0;
  const hasB = probs != 0 || eps > 0;
  for (let i = 0; i < n; i++) {
    const off = (<usize>i * <usize>ld + <usize>(v0 - col0)) << 2; // class v0 of row i
    const xRow = logits + off;
    const gRow = grad + off;
    const tRow = probs != 0 ? probs + off : 0;
    const y = target != 0 ? load<i32>(target + (<usize>i << 2)) : -1;
    if (target != 0 && y < 0) {
      memory.fill(gRow, 0, <usize>width << 2);
      continue;
    }
    const c = cappedRow(xRow, width, s, scratch);
    const yIn = y >= v0 && y < v1;
    const stored = stats != 0;
    let cy: f64 = 0;
    if (yIn) cy = stored ? load<f64>(stats + (<usize>(2 * n + i) << 3)) : <f64>load<f32>(at(c, y - v0));
    // e_j = exp(c_j − m_k) with m_k the slice's own max, exactly as rowStats stores them, so that
    // both modes give the same bits; a slice of −Infinity has e = 0 (rowStats stores zeros).
    const mk: f32 = stored ? <f32>load<f64>(stats + (<usize>i << 3)) : rowMax(c, width);
    const fromExps = stored || mk == -Infinity;
    if (!stored && mk == -Infinity) memory.fill(gRow, 0, <usize>width << 2);
    const m = <f32>load<f64>(merged + (<usize>i << 3)); // a max of float32 values: exact
    const kRow = (scale * load<f64>(merged + (<usize>(2 * n + i) << 3))) / load<f64>(merged + (<usize>(n + i) << 3));
    const k = mk == m ? kRow : kRow * Math.exp(<f64>mk - <f64>m);
    const kb: f64 = probs == 0 ? (scale * eps) / <f64>v : scale * (1 - eps);
    const kc: f64 = probs == 0 ? 0 : (scale * eps) / <f64>v;
    const m4 = f32x4.splat(mk);
    let j = 0;
    if (!hasB && s == 0) {
      const k4 = f32x4.splat(<f32>k);
      if (fromExps) {
        j = scaleVectors(gRow, width, k4);
      } else {
        for (; j + 4 <= width; j += 4) {
          v128.store(at(gRow, j), f32x4.mul(k4, exp4(f32x4.sub(v128.load(at(c, j)), m4))));
        }
      }
    } else {
      const k2 = f64x2.splat(k);
      const kb2 = f64x2.splat(kb);
      const kc2 = f64x2.splat(kc);
      const one = f64x2.splat(1);
      const invS = f64x2.splat(s > 0 ? 1 / s : 0);
      for (; j + 4 <= width; j += 4) {
        const cc = fromExps && s == 0 ? f32x4.splat(0) : v128.load(at(c, j));
        const e = fromExps ? v128.load(at(gRow, j)) : exp4(f32x4.sub(cc, m4));
        let g0 = f64x2.mul(k2, promoteLow(e));
        let g1 = f64x2.mul(k2, promoteHigh(e));
        if (hasB) {
          let w0 = one;
          let w1 = one;
          if (wSlice != 0) {
            w0 = v128.load(wSlice + (<usize>j << 3));
            w1 = v128.load(wSlice + (<usize>j << 3) + 16);
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
          const t0 = f64x2.mul(promoteLow(cc), invS);
          const t1 = f64x2.mul(promoteHigh(cc), invS);
          g0 = f64x2.mul(g0, f64x2.sub(one, f64x2.mul(t0, t0)));
          g1 = f64x2.mul(g1, f64x2.sub(one, f64x2.mul(t1, t1)));
        }
        v128.store(at(gRow, j), demote2(g0, g1));
      }
    }
    for (; j < width; j++) {
      const cj: f32 = fromExps && s == 0 ? 0 : load<f32>(at(c, j));
      let g = k * <f64>(fromExps ? load<f32>(at(gRow, j)) : exp1(cj - mk));
      const w: f64 = wSlice != 0 ? load<f64>(wSlice + (<usize>j << 3)) : 1;
      if (probs != 0) {
        g -= (kb * <f64>load<f32>(at(tRow, j)) + kc) * w;
      } else if (eps > 0) {
        g -= kb * w;
      }
      if (s > 0) {
        const t = <f64>cj / s;
        g *= 1 - t * t;
      }
      store<f32>(at(gRow, j), <f32>g);
    }
    if (yIn) {
      const wy: f64 = weight != 0 ? load<f64>(weight + (<usize>y << 3)) : 1;
      let gy = kRow * Math.exp(cy - <f64>m);
      if (eps > 0) gy -= kb * wy;
      gy -= scale * (1 - eps) * wy;
      if (s > 0) {
        const t = cy / s;
        gy *= 1 - t * t;
      }
      store<f32>(at(gRow, y - v0), <f32>gy);
    }
  }
}
