// The fused linear cross-entropy's per-chunk work (AssemblyScript, SIMD128), split in items that
// threads claim: each item writes its own outputs, with the same blocking whoever runs it, so the
// results do not depend on the thread count. For a chunk of `rows` rows of hidden (rows, D):
//   linearLogits  item t = p·nV + b: logits[panel p, block b] (64 rows × VB) = hidden[panel p] ·
//                 weight[block b]ᵀ (nV blocks of VB classes, panels of LIN_PANEL rows)
//   linearGrad    items [0, nH): gradHidden columns [hc·t, hc·t+hc) of the chunk (rows, D) +=, summed
//                 over the vocabulary blocks in increasing order (skipping masked ones);
//                 items [nH, nH+nW): gradWeight[block t] (VB, D) += dL[:, block t]ᵀ · hidden[rows]
// `mask` (one byte per vocabulary block, or 0 for none) marks blocks the gradient filter skips.
import { LIN_D, LIN_GRAD_HIDDEN, LIN_GRAD_WEIGHT, LIN_HIDDEN, LIN_HIDDEN_COLS, LIN_LOGITS, LIN_MASK, LIN_PANEL, LIN_ROWS, LIN_V, LIN_VB as VB, LIN_WEIGHT } from "./abi";
import { matmulAB, matmulNT } from "./matmul";

/**
 * logits (rows, V) for items [item0, item1), each a panel of rows × a vocabulary block (their
 * hidden rows stay in cache while the block's weight rows pass; every logit is the same dot
 * product whatever the item). `params`: the chunk's struct (abi.ts: LIN_*).
 */
export function linearLogits(params: usize, item0: i32, item1: i32): void {
  const hidden = <usize>load<u32>(params, LIN_HIDDEN);
  const weight = <usize>load<u32>(params, LIN_WEIGHT);
  const logits = <usize>load<u32>(params, LIN_LOGITS);
  const rows = load<i32>(params, LIN_ROWS);
  const d = load<i32>(params, LIN_D);
  const v = load<i32>(params, LIN_V);
  const nV = (v + VB - 1) / VB;
  for (let t = item0; t < item1; t++) {
    const i0 = (t / nV) * LIN_PANEL;
    const j0 = (t % nV) * VB;
    const m = min(LIN_PANEL, rows - i0);
    const nb = min(VB, v - j0);
    matmulNT(m, nb, d, hidden + ((<usize>i0 * <usize>d) << 2), d, weight + ((<usize>j0 * <usize>d) << 2), d, logits + ((<usize>i0 * <usize>v + <usize>j0) << 2), v, false);
  }
}

/**
 * Gradient items [item0, item1) of a chunk (`params`: abi.ts LIN_*): dl (rows, V) is dL/dlogits (already scaled); gradH
 * (rows, D) and gradW (V, D) are accumulated (the host zeroes gradH where a sum starts). `scratch`: this
 * thread's LIN_PACK_BYTES (matmulAB's packed slices).
 */
export function linearGrad(params: usize, item0: i32, item1: i32, scratch: usize): void {
  const dl = <usize>load<u32>(params, LIN_LOGITS);
  const hidden = <usize>load<u32>(params, LIN_HIDDEN);
  const weight = <usize>load<u32>(params, LIN_WEIGHT);
  const gradH = <usize>load<u32>(params, LIN_GRAD_HIDDEN);
  const gradW = <usize>load<u32>(params, LIN_GRAD_WEIGHT);
  const mask = <usize>load<u32>(params, LIN_MASK);
  const rows = load<i32>(params, LIN_ROWS);
  const d = load<i32>(params, LIN_D);
  const v = load<i32>(params, LIN_V);
  const hc = load<i32>(params, LIN_HIDDEN_COLS);
  const nH = (d + hc - 1) / hc;
  const nV = (v + VB - 1) / VB;
  for (let t = item0; t < item1; t++) {
    if (t < nH) {
      const c0 = t * hc;
      const nc = min(hc, d - c0);
      const out = gradH + (<usize>c0 << 2);
      for (let b = 0; b < nV; b++) {
        if (mask != 0 && load<u8>(mask + <usize>b) != 0) continue;
        const j0 = b * VB;
        const nb = min(VB, v - j0);
        // gradH[:, c0:c0+nc] (rows, nc) += dl[:, j0:j0+nb] (rows, nb) · weight[j0:j0+nb, c0:c0+nc]
        matmulAB(rows, nc, nb, dl + (<usize>j0 << 2), v, 1, weight + ((<usize>j0 * <usize>d + <usize>c0) << 2), d, out, d, true, scratch);
      }
    } else {
      const b = t - nH;
      if (mask != 0 && load<u8>(mask + <usize>b) != 0) continue;
      const j0 = b * VB;
      const nb = min(VB, v - j0);
      // gradW[j0:j0+nb] (nb, D) += dl[:, j0:j0+nb]ᵀ (nb, rows) · hidden (rows, D)
      matmulAB(nb, d, rows, dl + (<usize>j0 << 2), 1, v, hidden, d, gradW + ((<usize>j0 * <usize>d) << 2), d, true, scratch);
    }
  }
}
