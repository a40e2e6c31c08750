// Column sums accumulated into a vector: out[j] += Σ_i g[i][j] for i in [0, rows), j in [0, cols),
// g[i][j] at i·ld + j. One invocation per column sums its rows in order (adjacent invocations read
// adjacent columns, so the loads coalesce); the host calls it once per chunk of rows, in chunk
// order, so the fused linear head's bias gradient is bitwise repeatable without atomics. It also
// sums the K slices of a split product (rows = slices, one row per slice's copy of C).

struct Params {
  rows: u32,
  cols: u32,
  ld: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= P.cols) {
    return;
  }
  var s = 0.0;
  for (var i = 0u; i < P.rows; i++) {
    s += g[i * P.ld + j];
  }
  out[j] += s;
}
