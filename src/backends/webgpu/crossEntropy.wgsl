//#if SUBGROUPS
enable subgroups;
//#endif
// Fused cross-entropy, forward and backward, one workgroup per row of a block of rows (rows, V),
// or per (slice, row) when each row's vocabulary is split into P.slices slices.
//
// Pass 1 reads the row once: an online max and rescaled sum of exps (per thread, then a
// reduction across the workgroup in a fixed order, so two runs give identical bits), and for
// probability targets Σ_j w_j·t'_j. Pass 2 (when a gradient, label smoothing or probability
// targets need it) reads the row again with the row's lse known: it writes the gradient and sums
// the loss terms that are Σ over the row. Shapes and option values are uniforms; what changes the
// code (vec4 or scalar elements, where the gradient goes, subgroup operations) is chosen by the
// host with the //#if lines.
//
// P.phase: 0 is the fused kernel (dispatch (1, rows)). The split-vocabulary mode (few rows, large
// V; dispatch (slices, rows)) runs phase 1, each workgroup's pass 1 over its slice writing the
// slice's record (max, sum, Σ w·t', target logit, flags) into rowOut, then phase 2: each workgroup
// merges its row's records with the same fixed-order reduction as pass 1's (every workgroup of a
// row gets the same bits), runs pass 2 over its slice and writes the slice's loss terms into the
// record; the host merges the records into the loss and lse (crossEntropy.ts).
//
// NaN semantics follow PyTorch (and the reference backend): a NaN logit, or +Infinity without a
// softcap, makes the row's lse, loss and gradient NaN; a row whose every capped logit is
// -Infinity has lse -Infinity and a NaN loss and gradient; an ignored row has loss 0 and a zero
// gradient whatever its logits. Special values are detected on the bits, not by float compares.

// Lanes: T holds the LANES consecutive elements one invocation handles at a time (V is a
// multiple of LANES, and so is each row's first element in its binding).
//#if VEC4
alias T = vec4<f32>;
alias I = vec4<i32>;
alias U = vec4<u32>;
const LANES: u32 = 4u;
const LANE_OFFSET: U = U(0u, 1u, 2u, 3u);
fn hmax(a: T) -> f32 { return max(max(a.x, a.y), max(a.z, a.w)); }
fn hsum(a: T) -> f32 { return (a.x + a.y) + (a.z + a.w); }
fn anyTrue(b: vec4<bool>) -> bool { return any(b); }
fn lane(a: T, j: u32) -> f32 { return a[j]; }
//#endif
//#if VEC2
alias T = vec2<f32>;
alias I = vec2<i32>;
alias U = vec2<u32>;
const LANES: u32 = 2u;
const LANE_OFFSET: U = U(0u, 1u);
fn hmax(a: T) -> f32 { return max(a.x, a.y); }
fn hsum(a: T) -> f32 { return a.x + a.y; }
fn anyTrue(b: vec2<bool>) -> bool { return any(b); }
fn lane(a: T, j: u32) -> f32 { return a[j]; }
//#endif
//#if SCALAR
alias T = f32;
alias I = i32;
alias U = u32;
const LANES: u32 = 1u;
const LANE_OFFSET: U = 0u;
fn hmax(a: T) -> f32 { return a; }
fn hsum(a: T) -> f32 { return a; }
fn anyTrue(b: bool) -> bool { return b; }
fn lane(a: T, j: u32) -> f32 { return a; }
//#endif

// Storage of the logits and the gradient: S holds one T. float32 (F32), or 16-bit floats packed
// two to a u32 word (PACKED4: vec4 lanes in two words; PACKED2: vec2 lanes in one word), read
// as float16 (F16, unpack2x16float is core WGSL: no shader-f16 needed) or bfloat16 (BF16: the
// high half of a float32); the arithmetic is float32 either way, and the gradient is rounded
// to the 16-bit format to nearest, ties to even (f16Bits, bf16Bits: exact integer code, as
// pack2x16float leaves the rounding and out-of-range values to the implementation).
//#if F32
alias S = T;
fn unpackS(s: S) -> T { return s; }
fn packS(a: T) -> S { return a; }
//#endif
//#if PACKED4
alias S = vec2<u32>;
fn unpackS(s: S) -> T { return T(unpackW(s.x), unpackW(s.y)); }
fn packS(a: T) -> S { return S(packW(a.xy), packW(a.zw)); }
//#endif
//#if PACKED2
alias S = u32;
fn unpackS(s: S) -> T { return unpackW(s); }
fn packS(a: T) -> S { return packW(a); }
//#endif
//#if PACKED1
// Odd V: rows start on either half of a word, so scalar lanes address halves (xBase, gBase count
// halves), and the gradient goes through GRAD_ATOMIC.
alias S = u32;
fn unpackS(s: S) -> T { return unpackW(s).x; }
fn packS(a: T) -> S { return packH(a); }
//#endif
//#if F16
fn unpackW(w: u32) -> vec2<f32> { return unpack2x16float(w); }
fn packW(a: vec2<f32>) -> u32 { return f16Bits(a.x) | (f16Bits(a.y) << 16u); }
fn packH(a: f32) -> u32 { return f16Bits(a); }
//#endif
//#if BF16
fn unpackW(w: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }
fn packW(a: vec2<f32>) -> u32 { return bf16Bits(a.x) | (bf16Bits(a.y) << 16u); }
fn packH(a: f32) -> u32 { return bf16Bits(a); }
//#endif

// float32 -> float16 bits, round to nearest even; overflow gives ±Infinity, NaN stays NaN.
fn f16Bits(a: f32) -> u32 {
  let b = bitcast<u32>(a);
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu);
  let m = b & 0x7fffffu;
  if (e == 255) {
    return sign | 0x7c00u | select(0u, 0x200u, m != 0u);
  }
  let h = e - 112; // the float16 exponent field
  if (h >= 31) {
    return sign | 0x7c00u;
  }
  var r: u32;
  var rem: u32;
  var half: u32;
  if (h <= 0) { // a float16 subnormal (or 0): r·2^-24
    if (h < -10) {
      return sign;
    }
    let mm = m | 0x800000u;
    let shift = u32(14 - h);
    r = mm >> shift;
    rem = mm & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  } else {
    r = (u32(h) << 10u) | (m >> 13u);
    rem = m & 0x1fffu;
    half = 0x1000u;
  }
  let up = rem > half || (rem == half && (r & 1u) == 1u);
  return sign | (r + select(0u, 1u, up)); // a carry rounds up into the exponent, or to Infinity
}

// float32 -> bfloat16 bits (the high half), round to nearest even; NaN stays NaN.
fn bf16Bits(a: f32) -> u32 {
  let b = bitcast<u32>(a);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return (b >> 16u) | 0x40u;
  }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

struct Params {
  v: u32,         // real V, the classes of a row
  rowBase: u32,   // global index of the block's first row (targets and per-row outputs)
  flags: u32,     // 1: probability targets; 2: write the gradient; 4: class weights
  zero: u32,      // 0: makes the special values below runtime values (WGSL constants cannot be ±Infinity or NaN)
  eps: f32,       // label smoothing ε
  epsOverV: f32,  // ε / V
  z: f32,         // z-loss coefficient
  softcap: f32,   // s, or 0 for no cap
  scale: f32,     // the reduction's gradient factor (1/D for mean, else 1)
  wSum: f32,      // W = Σ_j w_j (V when unweighted)
  slices: u32,    // slices per row (1: whole rows)
  phase: u32,     // 0: fused; 1: slice statistics; 2: slice gradient and loss terms
  xBase: u32,     // the block's first logit in x, in S units (halves for PACKED1; the binding starts at an aligned offset)
  pBase: u32,     // the block's first probability in probs, in T units
  gBase: u32,     // the block's first gradient element in g, in S units (GRAD_SEPARATE; halves for GRAD_ATOMIC)
  _pad0: u32,
}

const WG: u32 = 256u;
const PROBS: u32 = 1u;
const GRAD: u32 = 2u;
const WEIGHTED: u32 = 4u;
const NEG_INF_BITS: u32 = 0xff800000u;
const NAN_BITS: u32 = 0x7fc00000u;
const REC: u32 = 6u; // a slice's record: max, sum of exps, Σ w·t', target logit, flags, loss terms

@group(0) @binding(0) var<uniform> P: Params;
//#if GRAD_INPLACE
@group(0) @binding(1) var<storage, read_write> x: array<S>;     // (rows, V) logits; the gradient is written over them
fn putGrad(i: u32, value: T) {
  x[P.xBase + i] = packS(value);
}
//#else
@group(0) @binding(1) var<storage, read> x: array<S>;           // (rows, V) logits
//#endif
@group(0) @binding(2) var<storage, read> targets: array<i32>;  // (N) class indices, -1 ignored (whole batch)
@group(0) @binding(3) var<storage, read> probs: array<T>;       // (rows, V) probabilities, or a stub
@group(0) @binding(4) var<storage, read> weight: array<T>;      // (V) class weights, or a stub
@group(0) @binding(5) var<storage, read_write> rowOut: array<f32>; // (N, 2) loss and lse per row; split: (N, slices, REC) records
//#if GRAD_SEPARATE
@group(0) @binding(6) var<storage, read_write> g: array<S>;     // (rows, V) gradient, in the logits' format
fn putGrad(i: u32, value: T) {
  g[P.gBase + i] = packS(value);
}
//#endif
//#if GRAD_ATOMIC
// 16-bit gradient of odd V: two rows (two workgroups) and two invocations of one row share a
// word, so each half is set with an integer atomicAnd then atomicOr on its own 16 bits (disjoint
// bits: the result does not depend on the order; g holds zeros or a copy of the words to keep).
@group(0) @binding(6) var<storage, read_write> g: array<atomic<u32>>; // (rows, V) gradient halves
fn putGrad(i: u32, value: T) {
  let e = P.gBase + i;
  let shift = (e & 1u) * 16u;
  atomicAnd(&g[e >> 1u], ~(0xffffu << shift));
  atomicOr(&g[e >> 1u], packH(value) << shift);
}
//#endif

// The T at unit i of the block's logits.
//#if PACKED1
fn loadX(i: u32) -> T {
  let e = P.xBase + i;
  return unpackW(x[e >> 1u])[e & 1u];
}
//#else
fn loadX(i: u32) -> T {
  return unpackS(x[P.xBase + i]);
}
//#endif

// The logit at element e of the block.
fn xAt(e: u32) -> f32 {
  return lane(loadX(e / LANES), e % LANES);
}

fn weightAt(j: u32) -> f32 {
  return lane(weight[j / LANES], j % LANES);
}

// exp(a), accurate to about 1 ulp of float32 (WGSL's built-in exp is allowed 3 + 2·|a| ulp):
// a = k·ln2 + r with a Cody-Waite split of ln2 (k·LN2_HI is exact), exp(r) by its Taylor
// series to degree 7 on |r| <= ln2/2 (truncation below 1e-8 relative). Values below 2^-126
// flush to 0, including exp(-Infinity).
const LOG2E: f32 = 1.44269504088896;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
fn expPoly(r: T) -> T {
  // exp(r) - 1
  var p = T(1.0 / 5040.0);
  p = fma(p, r, T(1.0 / 720.0));
  p = fma(p, r, T(1.0 / 120.0));
  p = fma(p, r, T(1.0 / 24.0));
  p = fma(p, r, T(1.0 / 6.0));
  p = fma(p, r, T(0.5));
  p = fma(p, r, T(1.0));
  return p * r;
}
fn expT(a: T) -> T {
  let c = clamp(a, T(-87.33), T(88.7));
  let k = round(c * LOG2E);
  let r = fma(-k, T(LN2_LO), fma(-k, T(LN2_HI), c));
  let e = ldexp(T(1.0) + expPoly(r), I(k));
  return select(e, T(0.0), a < T(-87.33));
}
fn expS(a: f32) -> f32 {
  let c = clamp(a, -87.33, 88.7);
  let k = round(c * LOG2E);
  let r = fma(-k, LN2_LO, fma(-k, LN2_HI, c));
  let e = ldexp(1.0 + expPoly1(r), i32(k));
  return select(e, 0.0, a < -87.33);
}
fn expPoly1(r: f32) -> f32 {
  var p = 1.0 / 5040.0;
  p = fma(p, r, 1.0 / 720.0);
  p = fma(p, r, 1.0 / 120.0);
  p = fma(p, r, 1.0 / 24.0);
  p = fma(p, r, 1.0 / 6.0);
  p = fma(p, r, 0.5);
  p = fma(p, r, 1.0);
  return p * r;
}

// tanh(y) = sign(y)·expm1(2|y|) / (expm1(2|y|) + 2), with expm1 exact in relative terms near 0
// (the k = 0 case is the polynomial alone), so small |y| keeps its relative accuracy.
fn tanhT(y: T) -> T {
  let a = min(abs(y), T(9.0)); // tanh(9) rounds to 1 in float32
  let k = round(2.0 * a * LOG2E);
  let r = fma(-k, T(LN2_LO), fma(-k, T(LN2_HI), 2.0 * a));
  let p = expPoly(r);
  let em = select(ldexp(T(1.0) + p, I(k)) - T(1.0), p, k == T(0.0));
  return sign(y) * (em / (em + T(2.0)));
}

// log(s) for a normal s > 0, about 1 ulp: s = 2^e·f with f in [√½, √2), log f = 2·atanh(u),
// u = (f-1)/(f+1), |u| <= 0.172, by its series to u^9 (truncation below 1e-9).
fn logS(s: f32) -> f32 {
  let fe = frexp(s);
  var f = fe.fract;
  var e = fe.exp;
  if (f < 0.70710678) {
    f = f * 2.0;
    e = e - 1;
  }
  let u = (f - 1.0) / (f + 1.0);
  let u2 = u * u;
  let series = 2.0 * u * (1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0 + u2 / 9.0))));
  let fe32 = f32(e);
  return fma(fe32, LN2_HI, fma(fe32, LN2_LO, series));
}

// true where a raw logit makes the row NaN: NaN, or +Infinity when there is no softcap (with a
// cap it becomes s). Tested on the bits, before the cap, so tanh never sees a NaN.
fn badT(raw: T) -> u32 {
  // 1: a NaN (the row's lse, loss and gradient are NaN); 2: a +Infinity before softcap (lse is
  // +Infinity as torch.logsumexp gives, the loss and gradient NaN: inf − inf)
  let b = bitcast<U>(raw);
  let nan = (b & U(0x7fffffffu)) > U(0x7f800000u);
  if (P.softcap > 0.0) {
    return select(0u, 1u, anyTrue(nan));
  }
  return select(0u, 1u, anyTrue(nan)) | select(0u, 2u, anyTrue(b == U(0x7f800000u)));
}
fn negInf() -> f32 { return bitcast<f32>(NEG_INF_BITS | P.zero); }
fn nanValue() -> f32 { return bitcast<f32>(NAN_BITS | P.zero); }
fn isNegInf(a: f32) -> bool { return bitcast<u32>(a) == NEG_INF_BITS; }

// Capped logits and tanh(x/s) (for the chain rule), or the logits themselves.
fn capT(v: T) -> T {
  if (P.softcap > 0.0) {
    return P.softcap * tanhT(v / P.softcap);
  }
  return v;
}

var<workgroup> sMax: array<f32, WG>;
var<workgroup> sSum: array<f32, WG>;
var<workgroup> sAux: array<f32, WG>;
var<workgroup> sBad: array<u32, WG>;

// Merge two (max, sum) pairs; a -Infinity max means an empty sum.
fn mergeSum(m1: f32, s1: f32, m2: f32, s2: f32) -> f32 {
  let m = max(m1, m2);
  if (isNegInf(m)) {
    return 0.0;
  }
  return s1 * expS(m1 - m) + s2 * expS(m2 - m);
}

//#if SUBGROUPS
var<private> sgLaneId: u32;              // the invocation's index in its subgroup
var<workgroup> sNonLinear: atomic<u32>;
var<workgroup> sSubgroupSize: u32;

// The subgroup size, or 0 where subgroup k is not invocations [k·size, (k+1)·size), which the
// reduction's slots need (true on the implementations we know of; the tree runs otherwise).
// Checked once per workgroup; the result is uniform.
fn initSubgroups(t: u32, sgLane: u32, sgSize: u32) -> u32 {
  sgLaneId = sgLane;
  let q = t / sgSize;
  if (subgroupMin(q) != subgroupMax(q) || t % sgSize != sgLane) {
    atomicOr(&sNonLinear, 1u);
  }
  workgroupBarrier();
  if (t == 0u) {
    sSubgroupSize = select(sgSize, 0u, atomicLoad(&sNonLinear) != 0u);
  }
  return workgroupUniformLoad(&sSubgroupSize);
}

// reduceStats with subgroup operations: each subgroup reduces its values in registers (in the
// implementation's order, fixed for a device, driver and subgroup size), lane 0 writes the result
// to slot (index / size) of one half of the arrays, and the next round reduces those slots the
// same way, writing to the other half, until one value is left, which goes to slot 0. One barrier
// a round: two rounds for subgroup sizes 16 to 128, four for 4.
const HALF: u32 = WG / 2u;
fn reduceSubgroups(t: u32, size: u32, m: f32, s: f32, a: f32, b: u32) {
  var cm = m;
  var cs = s;
  var ca = a;
  var cb = b;
  var count = WG;
  var half = HALF; // where this round writes: HALF, 0, HALF, ...
  loop {
    let gm = subgroupMax(cm);
    var scaled = 0.0;
    if (!isNegInf(gm)) {
      scaled = cs * expS(cm - gm);
    }
    let gs = subgroupAdd(scaled);
    let ga = subgroupAdd(ca);
    let gb = subgroupOr(cb);
    count = (count + size - 1u) / size;
    // the last round writes slot 0, which only invocation 0 (this lane 0) has read this round
    var k = half + t / size;
    if (count == 1u) {
      k = 0u;
    }
    if (sgLaneId == 0u && t / size < count) {
      sMax[k] = gm;
      sSum[k] = gs;
      sAux[k] = ga;
      sBad[k] = gb;
    }
    workgroupBarrier();
    if (count == 1u) {
      break;
    }
    cm = negInf();
    cs = 0.0;
    ca = 0.0;
    cb = 0u;
    if (t < count) {
      cm = sMax[half + t];
      cs = sSum[half + t];
      ca = sAux[half + t];
      cb = sBad[half + t];
    }
    half = HALF - half;
  }
}
//#endif

// Slot 0 of sMax, sSum, sAux, sBad gets every invocation's (m, s, a, b) merged: the max, the sum
// of exps rescaled to it, the sum of a, the OR of b, in a fixed order (a workgroup-memory tree, or
// subgroup operations where `size`, the subgroup size, is not 0). Called by every invocation;
// ends with a barrier.
fn reduceStats(t: u32, size: u32, m: f32, s: f32, a: f32, b: u32) {
//#if SUBGROUPS
  if (size != 0u) {
    reduceSubgroups(t, size, m, s, a, b);
    return;
  }
//#endif
  sMax[t] = m;
  sSum[t] = s;
  sAux[t] = a;
  sBad[t] = b;
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    workgroupBarrier();
    if (t < stride) {
      let m1 = sMax[t];
      let m2 = sMax[t + stride];
      sSum[t] = mergeSum(m1, sSum[t], m2, sSum[t + stride]);
      sMax[t] = max(m1, m2);
      sAux[t] = sAux[t] + sAux[t + stride];
      sBad[t] = sBad[t] | sBad[t + stride];
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
//#if SUBGROUPS
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32) {
  let sg = initSubgroups(lid.x, sgLane, sgSize);
//#else
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let sg = 0u; // no subgroups: the tree
//#endif
  let t = lid.x;
  let rowLocal = wid.y;
  let row = P.rowBase + rowLocal;
  let units = P.v / LANES;          // T elements per row (V is a multiple of LANES)
  let base = rowLocal * units;      // first T element of the row in this block
  // The slice [u0, u1) of the row's T elements this workgroup reads (the whole row when fused).
  let sliceUnits = (units + P.slices - 1u) / P.slices;
  let u0 = min(wid.x * sliceUnits, units);
  let u1 = min(u0 + sliceUnits, units);
  let rec = (row * P.slices + wid.x) * REC; // the slice's record in rowOut (split mode)
  let hasProbs = (P.flags & PROBS) != 0u;
  let weighted = (P.flags & WEIGHTED) != 0u;
  let wantGrad = (P.flags & GRAD) != 0u;
  var y = -1;
  if (!hasProbs) {
    y = targets[row];
  }
  var cy = 0.0; // the target's capped logit, read before pass 2 may write over the row
  if (t == 0u && y >= 0 && u32(y) / LANES >= u0 && u32(y) / LANES < u1 && P.phase != 2u) {
    cy = hmax(capT(T(xAt(base * LANES + u32(y)))));
  }

  // ---- pass 1: online max and sum of exps; Σ w·t' for probability targets
  var m = negInf();
  var s = 0.0;
  var tw = 0.0;
  var bad = 0u;
  // Phase 2 merges the row's slice records instead of reading the row, a record per invocation
  // (with the reduction below, every workgroup of the row gets the same bits).
  let records = select(0u, P.slices, P.phase == 2u);
  for (var k = t; k < records; k += WG) {
    let i = (row * P.slices + k) * REC;
    let mk = rowOut[i];
    s = mergeSum(m, s, mk, rowOut[i + 1u]);
    m = max(m, mk);
    tw += rowOut[i + 2u];
    bad |= u32(rowOut[i + 4u]);
  }
  let pass1End = select(u1, u0, P.phase == 2u);
  for (var k = u0 + t; k < pass1End; k += WG) {
    let raw = loadX(base + k);
    var c = capT(raw);
    let flags = badT(raw);
    if (flags != 0u) {
      bad |= flags;
      c = T(negInf()); // keep the running stats finite; the row is NaN anyway
    }
    let cm = hmax(c);
    let mNew = max(m, cm);
    if (!isNegInf(mNew)) {
      s = s * expS(m - mNew) + hsum(expT(c - T(mNew)));
      m = mNew;
    }
    if (hasProbs) {
      var w = T(1.0);
      if (weighted) {
        w = weight[k];
      }
      let tp = fma(T(1.0 - P.eps), probs[P.pBase + base + k], T(P.epsOverV));
      tw += hsum(w * tp);
    }
  }
  reduceStats(t, sg, m, s, tw, bad);
  let rowMax = sMax[0];
  let rowSum = sSum[0];
  let rowTw = sAux[0];
  let rowFlags = sBad[0];
  workgroupBarrier(); // every thread has read slot 0 before pass 2 reuses it
  storageBarrier();   // and thread 0 has read the target's logit before pass 2 writes the row
  if (P.phase == 1u) {
    if (t == 0u) {
      rowOut[rec] = rowMax;
      rowOut[rec + 1u] = rowSum;
      rowOut[rec + 2u] = rowTw;
      rowOut[rec + 3u] = cy;
      rowOut[rec + 4u] = f32(rowFlags); // 0 to 3, exact
    }
    return;
  }
  let rowBad = rowFlags != 0u;
  let nan = nanValue();
  var lse = nan;
  if (!rowBad) {
    lse = select(rowMax + logS(rowSum), rowMax, isNegInf(rowMax));
  }
  var lseOut = lse;
  if (rowFlags == 2u) {
    lseOut = bitcast<f32>(0x7f800000u | P.zero); // +Infinity without a NaN: lse +Infinity, the rest NaN
  }
  let ignored = !hasProbs && y < 0;
  let dead = rowBad || isNegInf(rowMax); // the loss and gradient are NaN

  // ---- pass 2: the gradient, and the loss terms summed over the row
  var wy = 1.0;
  if (!hasProbs && !ignored && weighted) {
    wy = weightAt(u32(y));
  }
  let onehotCoef = (1.0 - P.eps) * wy;
  let zTerm = 2.0 * P.z * lse;
  let smoothing = P.eps > 0.0;
  var part = 0.0;
  if (wantGrad || hasProbs || smoothing) {
    for (var k = u0 + t; k < u1; k += WG) {
      let raw = loadX(base + k);
      var th = T(0.0);
      var c = raw;
      if (P.softcap > 0.0) {
        th = tanhT(raw / P.softcap);
        c = P.softcap * th;
      }
      let p = expT(c - T(lse));
      var w = T(1.0);
      if (weighted) {
        w = weight[k];
      }
      var gk: T;
      if (hasProbs) {
        let tp = fma(T(1.0 - P.eps), probs[P.pBase + base + k], T(P.epsOverV));
        part += hsum(w * tp * (T(lse) - c));
        gk = rowTw * p - w * tp;
      } else {
        let j = U(k * LANES) + LANE_OFFSET;
        let onehot = select(T(0.0), T(1.0), j == U(u32(y)));
        gk = onehotCoef * (p - onehot);
        if (smoothing) {
          part += hsum(w * (T(lse) - c));
          gk += P.epsOverV * (P.wSum * p - w);
        }
      }
      if (P.z > 0.0) {
        gk += zTerm * p;
      }
      if (wantGrad) {
        var dx = gk * P.scale;
        if (P.softcap > 0.0) {
          dx *= T(1.0) - th * th;
        }
        if (ignored) {
          dx = T(0.0);
        } else if (dead) {
          dx = T(nan);
        }
        putGrad(base + k, dx);
      }
    }
  }
  reduceStats(t, sg, negInf(), 0.0, part, 0u);
  if (t == 0u && P.phase == 2u) {
    rowOut[rec + 5u] = sAux[0];
  } else if (t == 0u) {
    var loss = 0.0;
    if (hasProbs) {
      loss = sAux[0];
    } else if (!ignored) {
      loss = onehotCoef * (lse - cy);
      if (smoothing) {
        loss += P.epsOverV * sAux[0];
      }
    }
    if (P.z > 0.0 && !ignored) {
      loss += P.z * lse * lse;
    }
    if (dead && !ignored) {
      loss = nan;
    }
    rowOut[2u * row] = loss;
    rowOut[2u * row + 1u] = lseOut;
  }
}
