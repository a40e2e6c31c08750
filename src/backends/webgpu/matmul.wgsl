// Tiled matrix product for the fused linear head: C (M, N) = alpha·(A (M, K) · B (K, N) + bias),
// or C += alpha·(A · B) when accumulating. One workgroup of 16×16 invocations per 64×64 tile of
// C (and per slice of K when split: workgroup z sums k in [z·kSplit, (z+1)·kSplit) into its own
// copy of C at cOff + z·cSplit, which the host then sums in slice order); each invocation keeps a 4×4 block of C in registers. The K dimension is walked 16 at a time
// through workgroup memory (A's 64×16 and B's 16×64 tiles, stored k-major as vec4 so that the
// inner loop reads one vec4 of A and one of B per k and does 16 fused multiply-adds). Every
// element of C sums its K products in the same order whatever the shapes, so results are
// bitwise repeatable; there are no atomics.
//
// Layouts (element indices; shapes and offsets are uniforms, so one pipeline serves every shape):
//   A[m][k] at aOff + m·aLd + k,   or with A_T at aOff + k·aLd + m
//   B[k][n] at bOff + k·bLd + n,   or with B_T at bOff + n·bLd + k
//   C[m][n] at cOff + m·cLd + n;   bias[n] at biasOff + n
// With A_VEC4 (B_VEC4, C_VEC4) the operand is read (written) as vec4 along its contiguous
// dimension: the host sets it only when that dimension's extent, the leading dimension and the
// offset are multiples of 4; otherwise four bounds-checked scalar loads (stores).

struct Params {
  m: u32,
  n: u32,
  k: u32,
  flags: u32,     // 1: add bias[n] before alpha; 2: accumulate into C
  aOff: u32,
  aLd: u32,
  bOff: u32,
  bLd: u32,
  cOff: u32,
  cLd: u32,
  biasOff: u32,
  alpha: f32,
  kSplit: u32,    // K per slice (a multiple of 16), or K when not split
  cSplit: u32,    // elements between the slices' copies of C
  _pad1: u32,
  _pad2: u32,
}

const TILE: u32 = 64u;  // C tile edge
const BK: u32 = 16u;    // K step
const Q: u32 = 16u;     // vec4 per tile row (TILE / 4)
const BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> P: Params;
//#if A_VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
//#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
//#endif
//#if B_VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#endif
//#if C_VEC4
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
//#else
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
//#endif
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Elements e .. e+3 of A, of which the first `avail` exist (0 to 4; 0 or 4 with A_VEC4).
fn loadA(e: u32, avail: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
//#if A_VEC4
  if (avail > 0u) {
    r = a[e >> 2u];
  }
//#else
  for (var i = 0u; i < avail; i++) {
    r[i] = a[e + i];
  }
//#endif
  return r;
}

fn loadB(e: u32, avail: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
//#if B_VEC4
  if (avail > 0u) {
    r = b[e >> 2u];
  }
//#else
  for (var i = 0u; i < avail; i++) {
    r[i] = b[e + i];
  }
//#endif
  return r;
}

// How many of the 4 elements from index i of a dimension of extent n exist, or 0 when `ok` is false.
fn avail4(i: u32, n: u32, ok: bool) -> u32 {
  if (!ok || i >= n) {
    return 0u;
  }
  return min(n - i, 4u);
}

// C[m][n .. n+3] (the first `avail` of them) = value, after the epilogue.
fn store(z: u32, m: u32, n: u32, avail: u32, acc: vec4<f32>) {
  var value = acc;
  let e = P.cOff + z * P.cSplit + m * P.cLd + n;
  if ((P.flags & BIAS) != 0u) {
    var bv = vec4<f32>(0.0);
    for (var i = 0u; i < avail; i++) {
      bv[i] = bias[P.biasOff + n + i];
    }
    value += bv;
  }
  value *= P.alpha;
//#if C_VEC4
  if ((P.flags & ACCUMULATE) != 0u) {
    value += c[e >> 2u];
  }
  c[e >> 2u] = value;
//#else
  for (var i = 0u; i < avail; i++) {
    var x = value[i];
    if ((P.flags & ACCUMULATE) != 0u) {
      x += c[e + i];
    }
    c[e + i] = x;
  }
//#endif
}

// (BK, TILE) tiles of A (as Aᵀ) and B, k-major, one vec4 of 4 consecutive m (n) per entry.
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let tm = t / Q; // this invocation's rows m0 + 4·tm .. +3
  let tn = t % Q; // and columns n0 + 4·tn .. +3
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let z = wid.z;
  let kBegin = z * P.kSplit;
  let kEnd = min(P.k, kBegin + P.kSplit);

  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    // ---- A tile: 64 m × 16 k, one vec4 load per invocation
//#if A_T
    {
      let kk = t / Q;
      let q = t % Q;
      let k = k0 + kk;
      let m = m0 + 4u * q;
      As[kk * Q + q] = loadA(P.aOff + k * P.aLd + m, avail4(m, P.m, k < kEnd));
    }
//#else
    {
      let r = t / 4u;
      let q = t % 4u;
      let m = m0 + r;
      let k = k0 + 4u * q;
      let v = loadA(P.aOff + m * P.aLd + k, avail4(k, kEnd, m < P.m));
      for (var i = 0u; i < 4u; i++) {
        As[(4u * q + i) * Q + r / 4u][r % 4u] = v[i];
      }
    }
//#endif
    // ---- B tile: 16 k × 64 n
//#if B_T
    {
      let r = t / 4u;
      let q = t % 4u;
      let n = n0 + r;
      let k = k0 + 4u * q;
      let v = loadB(P.bOff + n * P.bLd + k, avail4(k, kEnd, n < P.n));
      for (var i = 0u; i < 4u; i++) {
        Bs[(4u * q + i) * Q + r / 4u][r % 4u] = v[i];
      }
    }
//#else
    {
      let kk = t / Q;
      let q = t % Q;
      let k = k0 + kk;
      let n = n0 + 4u * q;
      Bs[kk * Q + q] = loadB(P.bOff + k * P.bLd + n, avail4(n, P.n, k < kEnd));
    }
//#endif
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = As[kk * Q + tm];
      let bv = Bs[kk * Q + tn];
      acc0 = fma(vec4<f32>(av.x), bv, acc0);
      acc1 = fma(vec4<f32>(av.y), bv, acc1);
      acc2 = fma(vec4<f32>(av.z), bv, acc2);
      acc3 = fma(vec4<f32>(av.w), bv, acc3);
    }
    workgroupBarrier();
  }

  let m = m0 + 4u * tm;
  let n = n0 + 4u * tn;
  let avail = avail4(n, P.n, true);
  if (avail == 0u) {
    return;
  }
  if (m < P.m) {
    store(z, m, n, avail, acc0);
  }
  if (m + 1u < P.m) {
    store(z, m + 1u, n, avail, acc1);
  }
  if (m + 2u < P.m) {
    store(z, m + 2u, n, avail, acc2);
  }
  if (m + 3u < P.m) {
    store(z, m + 3u, n, avail, acc3);
  }
}
