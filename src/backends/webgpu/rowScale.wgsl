// Row factors: g[r][j] *= s[sBase + r] for r in [0, rows), j in [0, cols), g row-major with
// leading dimension cols. The fused linear head multiplies a chunk's dL/dlogits by each row's
// upstream gradient (reduction "none" under an autograd framework) before the gradient products,
// so that d weight and d bias are those of Σ_i s_i·L_i. One invocation per element.

struct Params {
  rows: u32,
  cols: u32,
  sBase: u32,     // the chunk's first row in s (its binding starts at an aligned offset)
  _pad: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let r = gid.y;
  if (j >= P.cols || r >= P.rows) {
    return;
  }
  g[r * P.cols + j] *= s[P.sBase + r];
}
