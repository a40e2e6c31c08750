/**
 * Distillation losses (KL, reverse KL, generalized JSD) on every kernel against PyTorch's float64
 * fixtures (fixtures/torch-lm-outputs.json, scripts/make_fixtures_lm.py), then the fast kernels
 * against the reference on seeded random rows, the gradient against finite differences, the
 * JSD's limits, and inplace.
 *
 * Tolerances: the loss is T²·D with terms of size |logit|/T, so its absolute part scales with
 * m = T²·max(1, max|logit|/T); the gradient's terms carry log-ratios of size max|logit|/T times
 * T. float64 kernels: loss atol 1e-12·m, rtol 1e-10; gradient atol 1e-12·max(T, max|logit|),
 * rtol 1e-9. float32 storage: the same for the loss (float64 sums of the same float32-exact
 * inputs), and the gradient rounded to float32: atol max(1e-9·T, the float64 atol), rtol 1e-6.
 * wasm (float32 exps): loss atol 2e-7·m, rtol 2e-6; gradient atol 1e-7·max(T, max|logit|),
 * rtol 1e-4.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { distillationLoss, type DistillationOptions } from "../../src/index.js";
import type { DistillationArgs, DistillationKind, DistillationReduction, DistillationResult, DistillationSpec } from "../../src/backends/types.js";
import { distillation as jsDistillation } from "../../src/backends/js/distillation.js";
import { distillation as refDistillation } from "../../src/backends/reference/distillation.js";
import type { FloatArray } from "../../src/backends/types.js";
import { distillationSync } from "../../src/backends/wasm/distillation.js";
import { WasmInstance } from "../../src/backends/wasm/instance.js";
import { assertClose, type Tolerance } from "../helpers/close.js";
import { rng } from "../helpers/gen.js";
import { label, MATRIX, runnerFor } from "../conformance/matrix.js";
import { distillFixtures, type DistillCase } from "./fixtures.js";

interface Kernel {
  name: string;
  run: (args: DistillationArgs) => DistillationResult;
  f32: boolean;
  /** float32 exps (wasm): wider tolerances. */
  exp32: boolean;
}

let inst: WasmInstance;
before(async () => {
  inst = await WasmInstance.create("own");
});

const kernels: Kernel[] = [
  { name: "reference", run: refDistillation, f32: false, exp32: false },
  { name: "js f64", run: jsDistillation, f32: false, exp32: false },
  { name: "js f32", run: jsDistillation, f32: true, exp32: false },
  { name: "wasm", run: (args) => distillationSync(inst, args), f32: true, exp32: true },
  // rows streamed through wasm memory 3 rows (or one, when V is large) at a time
  { name: "wasm, small blocks", run: (args) => distillationSync(inst, args, 3 * args.v), f32: true, exp32: true },
];

function maxAbs(...xs: ArrayLike<number>[]): number {
  let m = 0;
  for (const x of xs) for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]!)) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function tolerances(f32: boolean, t: number, m: number, exp32 = false): { value: Tolerance; grad: Tolerance } {
  const scale = t * t * Math.max(1, m / t);
  const gradAtol = 1e-12 * Math.max(t, m);
  if (exp32) return { value: { atol: 2e-7 * scale, rtol: 2e-6 }, grad: { atol: 1e-7 * Math.max(t, m), rtol: 1e-4 } };
  return {
    value: { atol: 1e-12 * scale, rtol: 1e-10 },
    grad: f32 ? { atol: Math.max(1e-9 * t, gradAtol), rtol: 1e-6 } : { atol: gradAtol, rtol: 1e-9 },
  };
}

/** The kernel's target: -1 for a masked token, 0 for one that counts. */
function maskOf(target: Int32Array | null, ignoreIndex: number): Int32Array | null {
  return target === null ? null : Int32Array.from(target, (y) => (y === ignoreIndex ? -1 : 0));
}

function argsOf(c: DistillCase, f32: boolean, grad: boolean): DistillationArgs {
  const student = f32 ? Float32Array.from(c.student) : Float64Array.from(c.student);
  const teacher = f32 ? Float32Array.from(c.teacher) : Float64Array.from(c.teacher);
  const spec: DistillationSpec = { kind: c.kind, beta: c.beta, temperature: c.temperature, reduction: c.reduction };
  const gradOut: FloatArray | null = grad ? (f32 ? new Float32Array(c.n * c.v) : new Float64Array(c.n * c.v)) : null;
  return { student, teacher, n: c.n, v: c.v, target: maskOf(c.target, c.ignoreIndex), spec, gradOut };
}

const cases = distillFixtures();

test("the distillation fixtures cover every kind, reduction and edge case", () => {
  assert.ok(cases.length >= 150, `only ${cases.length} cases`);
  const names = cases.map((c) => c.name).join("\n");
  for (const needle of ["kind=kl,", "kind=reverse-kl", "kind=jsd,beta=0.0", "kind=jsd,beta=1.0", "kind=jsd,beta=0.5", "reduction=batchmean", "reduction=sum", "reduction=none", ",target", "ignoreIndex=0", "mask/all", "mask/both", "mask/teacher", "mask/student", "extreme/pm1e4", "shape/1x1", "shape/2x33", "shape/3x100", "equal/", "vocab/50257"]) {
    assert.ok(names.includes(needle), `no fixture named like ${needle}`);
  }
});

for (const k of kernels) {
  test(`distillation matches PyTorch: ${k.name}`, () => {
    for (const c of cases) {
      const tol = tolerances(k.f32, c.temperature, maxAbs(c.student, c.teacher), k.exp32);
      const args = argsOf(c, k.f32, true);
      const out = k.run(args);
      const label = `${k.name} ${c.name}`;
      if (c.want.loss !== null) assertClose(out.loss, c.want.loss, tol.value, `${label} loss`);
      assertClose(out.rowLoss, c.want.rowLoss, tol.value, `${label} per-token loss`);
      const g = args.gradOut!;
      const grad = c.want.gradIndex === null ? g : c.want.gradIndex.map((i) => g[i]!);
      assertClose(grad, c.want.grad, tol.grad, `${label} grad`, c.want.gradIndex ?? undefined);
      // without a gradient: the same loss
      const noGrad = k.run(argsOf(c, k.f32, false));
      assertClose(noGrad.rowLoss, c.want.rowLoss, tol.value, `${label} per-token loss without a gradient`);
    }
  });
}

/** A seeded random case: V up to 300, logits up to ±scale, some -Infinity columns in both rows, some masked tokens. */
function randomCase(seed: number): DistillCase {
  const r = rng(seed);
  const n = 1 + Math.floor(r() * 5);
  const v = 1 + Math.floor(r() * 300);
  const scale = [1, 10, 100, 1e4][Math.floor(r() * 4)]!;
  const student = Float64Array.from({ length: n * v }, () => Math.fround((2 * r() - 1) * scale));
  const teacher = Float64Array.from({ length: n * v }, () => Math.fround((2 * r() - 1) * scale));
  if (v > 2 && r() < 0.4) {
    for (let i = 0; i < n; i++) {
      const j = 1 + Math.floor(r() * (v - 1)); // column 0 stays finite
      student[i * v + j] = -Infinity;
      teacher[i * v + j] = -Infinity;
    }
  }
  const kinds: [DistillationKind, number][] = [["kl", 0.5], ["reverse-kl", 0.5], ["jsd", 0], ["jsd", 1], ["jsd", r()]];
  const [kind, beta] = kinds[Math.floor(r() * kinds.length)]!;
  const reductions: DistillationReduction[] = ["batchmean", "sum", "none"];
  const masked = r() < 0.5;
  const target = masked ? Int32Array.from({ length: n }, () => (r() < 0.3 ? -100 : 1)) : null;
  return {
    name: `random/${seed}/${n}x${v}/${kind}${kind === "jsd" ? beta : ""}`,
    n,
    v,
    student,
    teacher,
    target,
    kind,
    beta,
    temperature: [1, 0.5, 2, 7.5][Math.floor(r() * 4)]!,
    reduction: reductions[Math.floor(r() * 3)]!,
    ignoreIndex: -100,
    want: { loss: null, rowLoss: new Float64Array(0), grad: new Float64Array(0), gradIndex: null },
  };
}

test("the fast kernels equal the reference on 200 seeded random cases", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const c = randomCase(seed);
    const wantArgs = argsOf(c, false, true);
    const want = refDistillation(wantArgs);
    for (const k of kernels.slice(1)) {
      const tol = tolerances(k.f32, c.temperature, maxAbs(c.student, c.teacher), k.exp32);
      const args = argsOf(c, k.f32, true);
      const got = k.run(args);
      const label = `${k.name} ${c.name}`;
      if (c.reduction !== "none") assertClose(got.loss, want.loss, tol.value, `${label} loss`);
      assertClose(got.rowLoss, want.rowLoss, tol.value, `${label} per-token loss`);
      assertClose(args.gradOut!, wantArgs.gradOut!, tol.grad, `${label} grad`);
    }
  }
});

test("the reference gradient equals central finite differences of its loss", () => {
  for (let seed = 301; seed <= 340; seed++) {
    const c = randomCase(seed);
    if (c.target !== null && c.target.every((y) => y === c.ignoreIndex)) c.target = null; // keep a finite batchmean
    c.student = c.student.map((x) => (Number.isFinite(x) ? Math.max(-8, Math.min(8, x / 100)) : x));
    c.teacher = c.teacher.map((x) => (Number.isFinite(x) ? Math.max(-8, Math.min(8, x / 100)) : x));
    const args = argsOf(c, false, true);
    refDistillation(args);
    const total = (s: Float64Array): number => {
      const out = refDistillation({ ...args, student: s, gradOut: null });
      return c.reduction === "none" ? out.rowLoss.reduce((a, b) => a + b, 0) : out.loss;
    };
    const h = 1e-5;
    for (let idx = 0; idx < c.n * c.v; idx += Math.max(1, Math.floor((c.n * c.v) / 17))) {
      if (!Number.isFinite(c.student[idx]!)) continue;
      const up = Float64Array.from(c.student);
      const dn = Float64Array.from(c.student);
      up[idx]! += h;
      dn[idx]! -= h;
      const fd = (total(up) - total(dn)) / (2 * h);
      assertClose(args.gradOut![idx]!, fd, { atol: 1e-6, rtol: 1e-5 }, `${c.name} d loss / d student[${idx}]`);
    }
  }
});

test("the JSD's ends: JSD_β / β tends to KL(P‖Q) as β → 0 and JSD_β / (1-β) to KL(Q‖P) as β → 1", () => {
  const r = rng(7);
  const v = 37;
  const c: DistillCase = { ...randomCase(7), n: 1, v, student: Float64Array.from({ length: v }, () => 6 * r() - 3), teacher: Float64Array.from({ length: v }, () => 6 * r() - 3) };
  const row = (kind: DistillationKind, beta: number): Float64Array => {
    const args = argsOf({ ...c, kind, beta, target: null, temperature: 1, reduction: "none" }, false, false);
    return refDistillation(args).rowLoss;
  };
  const kl = row("kl", 0);
  const rkl = row("reverse-kl", 0);
  const b = 1e-7;
  const near0 = row("jsd", b).map((x) => x / b);
  const near1 = row("jsd", 1 - b).map((x) => x / b);
  assertClose(near0, kl, { atol: 1e-6, rtol: 1e-4 }, "JSD_β/β at β = 1e-7 vs KL(P‖Q)");
  assertClose(near1, rkl, { atol: 1e-6, rtol: 1e-4 }, "JSD_β/(1-β) at β = 1 - 1e-7 vs KL(Q‖P)");
  assertClose(row("jsd", 0), kl, { atol: 0, rtol: 0 }, "jsd with β = 0 is kl");
  assertClose(row("jsd", 1), rkl, { atol: 0, rtol: 0 }, "jsd with β = 1 is reverse-kl");
});

test("inplace: the gradient written over the student's logits equals a separate gradient, bit for bit; inputs untouched otherwise", () => {
  for (let seed = 401; seed <= 440; seed++) {
    const c = randomCase(seed);
    for (const k of kernels.slice(1)) {
      const args = argsOf(c, k.f32, true);
      const before = { student: args.student.slice(), teacher: args.teacher.slice() };
      const sep = k.run(args);
      assert.deepEqual(args.student, before.student, `${k.name} ${c.name}: the student's logits changed`);
      assert.deepEqual(args.teacher, before.teacher, `${k.name} ${c.name}: the teacher's logits changed`);
      const inplace = { ...args, student: before.student.slice(), gradOut: null as FloatArray | null };
      inplace.gradOut = inplace.student;
      const got = k.run(inplace);
      assert.deepEqual(got.rowLoss, sep.rowLoss, `${k.name} ${c.name}: inplace per-token loss`);
      assert.deepEqual(inplace.student, args.gradOut, `${k.name} ${c.name}: inplace gradient`);
      assert.deepEqual(args.teacher, before.teacher, `${k.name} ${c.name}: the teacher's logits changed (inplace)`);
    }
  }
});

/** The fixture's options as distillationLoss options. */
function publicOptions(c: DistillCase): DistillationOptions {
  const o: DistillationOptions = { classes: c.v, kind: c.kind, temperature: c.temperature, reduction: c.reduction };
  if (c.kind === "jsd") o.beta = c.beta;
  if (c.target !== null) {
    o.target = c.target;
    o.ignoreIndex = c.ignoreIndex;
  }
  return o;
}

// The public API on every row of the conformance matrix (synchronous backends and engines), against PyTorch.
for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`${label(row)}: distillationLoss matches PyTorch`, async () => {
    for (const c of cases) {
      if (c.v > 1000 && row.mode === "executor") continue; // the GPT-2 sized fixtures run on the synchronous rows
      for (const dtype of row.dtypes) {
        const f32 = dtype === "float32";
        const arr = (x: Float64Array): Float32Array | Float64Array => (f32 ? new Float32Array(x) : Float64Array.from(x));
        const exp32 = f32 && row.backend === "wasm";
        const tol = tolerances(f32, c.temperature, maxAbs(c.student, c.teacher), exp32);
        // float32 logits give float32 per-token losses: one rounding more
        if (f32 && c.reduction === "none") tol.value = { atol: tol.value.atol, rtol: Math.max(tol.value.rtol, 2e-7) };
        const tag = `${label(row)} ${c.name} [${dtype}]`;
        const student = arr(c.student);
        const before = student.slice();
        const out = await run.distillationLoss(student, arr(c.teacher), { ...publicOptions(c), grad: true });
        assert.deepEqual(student, before, `${tag}: the student's logits changed`);
        assert.equal(out.grad instanceof Float32Array, f32, `${tag}: grad dtype follows the student's logits`);
        if (c.want.loss !== null) assertClose(out.loss as number, c.want.loss, tol.value, `${tag} loss`);
        else assertClose(out.loss as ArrayLike<number>, c.want.rowLoss, tol.value, `${tag} per-token loss`);
        const g = out.grad!;
        assertClose(c.want.gradIndex === null ? g : c.want.gradIndex.map((i) => g[i]!), c.want.grad, tol.grad, `${tag} grad`, c.want.gradIndex ?? undefined);
        const inplace = await run.distillationLoss(student, arr(c.teacher), { ...publicOptions(c), grad: true, inplace: true });
        assert.equal(inplace.grad, student, `${tag}: inplace returns the student's buffer`);
        assertClose(student, g, { atol: 0, rtol: 0 }, `${tag}: inplace gradient`);
      }
    }
    const engine = await run.engine();
    if (engine === null) return;
    // Zero-copy: both logits in engine memory; the gradient is a new engine block.
    const c = cases.find((k) => k.name.startsWith("grid/kind=jsd,beta=0.5,temperature=2.5,reduction=batchmean,target"))!;
    const s = engine.alloc(c.n * c.v);
    const t = engine.alloc(c.n * c.v);
    s.set(c.student);
    t.set(c.teacher);
    const out = await engine.distillationLoss(s, t, { ...publicOptions(c), grad: true });
    const tol = tolerances(true, c.temperature, maxAbs(c.student, c.teacher), row.backend === "wasm");
    assertClose(out.loss as number, c.want.loss!, tol.value, `${label(row)} zero-copy loss`);
    assertClose(out.grad!, c.want.grad, tol.grad, `${label(row)} zero-copy grad`);
    engine.free(out.grad as Float32Array);
    engine.free(s);
    engine.free(t);
    assert.equal(engine.memoryStats().bytesInUse, 0, `${label(row)}: every block and temporary was freed`);
  });
}

test("distillationLoss: clear errors naming the function, the argument, the value and what was expected", () => {
  const s = new Float32Array(6);
  const bad: [unknown, unknown, DistillationOptions, RegExp][] = [
    [s, new Float32Array(4), { classes: 3 }, /distillationLoss: teacherLogits has length 4, which is not a multiple of classes = 3/],
    [s, new Float32Array(9), { classes: 3 }, /distillationLoss: teacherLogits is 3×3; expected the student's shape N×V = 2×3/],
    [s, s, { classes: 3, kind: "js" as DistillationKind }, /options\.kind is "js"; expected "kl", "reverse-kl" or "jsd"/],
    [s, s, { classes: 3, kind: "jsd", beta: 1.5 }, /options\.beta is 1\.5; expected a number in \[0, 1\]/],
    [s, s, { classes: 3, beta: 0.3 }, /options\.beta is given with kind "kl"; expected kind "jsd"/],
    [s, s, { classes: 3, temperature: 0 }, /options\.temperature is 0; expected a finite number > 0/],
    [s, s, { classes: 3, reduction: "mean" as DistillationReduction }, /distillationLoss: options\.reduction is "mean"; expected "batchmean", "sum" or "none"/],
    [s, s, { classes: 3, target: [1] }, /options\.target has length 1; expected N = 2/],
    [s, s, { classes: 3, target: [1, 0.5] }, /options\.target\[1\] is 0\.5; expected an integer/],
    [s, s, { classes: 3, ignoreIndex: 0 }, /options\.ignoreIndex is given without options\.target/],
    [s, s, { classes: 3, inplace: true }, /options\.inplace needs options\.grad = true/],
    [s, s, { classes: 3, ["labelSmoothing" as "beta"]: 0.1 }, /distillationLoss: unknown option "labelSmoothing"/],
  ];
  for (const [a, b, o, re] of bad) assert.throws(() => distillationLoss(a as Float32Array, b as Float32Array, o), re);
});
