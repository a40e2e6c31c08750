/**
 * GPU-resident inputs and outputs of the webgpu engine (docs/webgpu.md, "GPU buffers"): logits
 * and probabilities read where they lie in a caller's GPUBuffer (at aligned and unaligned byte
 * offsets, in row blocks), the gradient as a new GPUBuffer or over the logits, and the errors for
 * what is refused. Results are compared with the float64 reference, and with the typed-array path
 * bit for bit.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { resolveGpuCrossEntropy } from "../../src/api/resolve.js";
import { createEngine, crossEntropy, type CrossEntropyOptions, type TargetInput } from "../../src/index.js";
import type { GpuBufferView } from "../../src/api/options.js";
import type { WebGpuExecutor } from "../../src/backends/webgpu/index.js";
import { assertClose } from "../helpers/close.js";
import { genProbs, genTargets, genValues } from "../helpers/gen.js";
import { bf16Bits, f16Bits, fromBf16, fromF16, fromHalf, toHalf, type Half } from "../helpers/half.js";
import { openExecutor, readBack, upload } from "./setup.js";

const F32 = { value: { atol: 2e-6, rtol: 2e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } };
const STORAGE = 0x80;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;

const ex = await openExecutor();
if (typeof ex === "string") {
  test("webgpu GPU inputs", { skip: ex }, () => {});
} else {
  const device = ex.device;
  const engine = await createEngine({ backend: "webgpu", device });
  after(() => engine.dispose());
  // bindings of at most 16500 bytes: a few rows each, so calls run in several blocks bound at offsets
  const small = await openExecutor({ device, maxBindingBytes: 16500 });

  /** crossEntropy on GPU logits through the executor `on` (the engine's validation, the executor's kernel). */
  async function runGpu(on: WebGpuExecutor, logits: GpuBufferView<GPUBuffer>, target: TargetInput | { probs: GpuBufferView<GPUBuffer> }, options: CrossEntropyOptions) {
    const r = resolveGpuCrossEntropy("test", logits, target, options);
    return on.crossEntropyGpu({ ...r, gradOut: null });
  }

  test("GPU logits at aligned and unaligned offsets, the gradient as a new GPUBuffer, equal the reference and the typed-array path bit for bit", async () => {
    for (const [n, v, offset] of [[7, 1000, 0], [7, 1000, 20], [7, 1000, 48], [5, 1031, 4], [6, 37, 260]] as const) {
      const x = new Float32Array(genValues(n * v, n * v + offset, 8));
      const t = genTargets(n, 2, v);
      t[1] = -100;
      const buf = upload(device, x, offset, 12);
      for (const o of [{ classes: v, grad: true }, { classes: v, grad: true, labelSmoothing: 0.1, zLoss: 1e-3, softcap: 5, reduction: "sum" as const }, { classes: v, reduction: "none" as const }]) {
        const label = `${n}x${v} at byte ${offset} ${JSON.stringify({ ...o, classes: undefined })}`;
        const got = await engine.crossEntropy({ buffer: buf, offset, length: n * v }, t, o);
        const want = crossEntropy(Float64Array.from(x), t, { ...o, backend: "reference" });
        if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, F32.value, `${label} loss`);
        else assertClose(got.loss as Float32Array, want.loss, F32.value, `${label} per-token loss`);
        assertClose(got.lse, want.lse, F32.value, `${label} lse`);
        const typed = await engine.crossEntropy(x, t, o);
        assert.deepEqual(got.lse, typed.lse, `${label}: lse as the typed-array path`);
        if (o.grad === true) {
          const g = got.grad as GPUBuffer;
          assert.ok(g !== buf && g.size >= n * v * 4, `${label}: a new buffer`);
          assert.ok((g.usage & (STORAGE | COPY_SRC | COPY_DST)) === (STORAGE | COPY_SRC | COPY_DST), `${label}: STORAGE | COPY_SRC | COPY_DST`);
          const grad = new Float32Array(await readBack(device, g, 0, n * v * 4));
          g.destroy();
          assertClose(grad, want.grad!, F32.grad, `${label} grad`);
          if (v % 4 !== 0 || offset % 16 === 0) assert.deepEqual(grad, typed.grad, `${label}: grad bits as the typed-array path`);
        } else assert.equal(got.grad, undefined);
      }
      // the caller's buffer is untouched
      const after = new Float32Array(await readBack(device, buf, offset, n * v * 4));
      assert.deepEqual(after, x, `${n}x${v} at ${offset}: logits unchanged`);
      buf.destroy();
    }
  });

  test("inplace writes the gradient over the view only; the result's grad is the caller's buffer", async () => {
    const [n, v, offset] = [6, 100, 36];
    const x = new Float32Array(genValues(n * v, 9, 4));
    const t = genTargets(n, 3, v);
    const buf = upload(device, x, offset, 40);
    const before = new Uint8Array(await readBack(device, buf, 0, buf.size));
    const got = await engine.crossEntropy({ buffer: buf, offset, length: n * v }, t, { classes: v, grad: true, inplace: true, zLoss: 1e-2 });
    assert.equal(got.grad, buf);
    const want = crossEntropy(Float64Array.from(x), t, { classes: v, grad: true, zLoss: 1e-2, backend: "reference" });
    assertClose(got.loss, want.loss, F32.value, "loss");
    const now = new Uint8Array(await readBack(device, buf, 0, buf.size));
    assertClose(new Float32Array(now.slice(offset, offset + n * v * 4).buffer), want.grad!, F32.grad, "grad in place");
    assert.deepEqual(now.subarray(0, offset), before.subarray(0, offset), "bytes before the view untouched");
    assert.deepEqual(now.subarray(offset + n * v * 4), before.subarray(offset + n * v * 4), "bytes after the view untouched");
    buf.destroy();
  });

  // 3 vocabulary slices per row: the split mode's two dispatches on GPU inputs
  const sliced = await openExecutor({ device, vocabSlices: 3 });
  if (typeof sliced === "string") test("split mode on GPU inputs", { skip: sliced }, () => {});
  else {
    test("the split-vocabulary mode on GPU logits: a new gradient, in place, and 16-bit logits of odd V in place", async () => {
      const [n, v, offset] = [3, 1001, 12];
      const t = genTargets(n, 7, v);
      const o: CrossEntropyOptions = { classes: v, grad: true, labelSmoothing: 0.1, zLoss: 1e-3 };
      const x = new Float32Array(genValues(n * v, 17, 6));
      const want = crossEntropy(Float64Array.from(x), t, { ...o, backend: "reference" });
      const buf = upload(device, x, offset, 8);
      const got = await runGpu(sliced, { buffer: buf, offset, length: n * v }, t, o);
      assertClose(got.loss, want.loss as number, F32.value, "split: loss");
      assertClose(got.lse, want.lse, F32.value, "split: lse");
      const g = got.grad as GPUBuffer;
      assertClose(new Float32Array(await readBack(device, g, 0, n * v * 4)), want.grad!, F32.grad, "split: new gradient");
      g.destroy();
      await runGpu(sliced, { buffer: buf, offset, length: n * v }, t, { ...o, inplace: true });
      assertClose(new Float32Array(await readBack(device, buf, offset, n * v * 4)), want.grad!, F32.grad, "split: gradient in place");
      buf.destroy();
      const { bits, wide } = toHalf("float16", x);
      const want16 = crossEntropy(wide, t, { ...o, backend: "reference" });
      const hb = upload(device, bits, 8, 6); // odd V: the view ends inside a word, whose other half is kept
      const before = new Uint8Array(await readBack(device, hb, 0, hb.size));
      const got16 = await runGpu(sliced, { buffer: hb, offset: 8, length: n * v, dtype: "float16" }, t, { ...o, inplace: true });
      assertClose(got16.loss, want16.loss as number, { atol: 1e-5, rtol: 1e-5 }, "split float16: loss");
      const now = new Uint8Array(await readBack(device, hb, 0, hb.size));
      const rounded = fromHalf("float16", toHalf("float16", want16.grad!).bits);
      assertClose(fromHalf("float16", new Uint16Array(now.slice(8, 8 + n * v * 2).buffer)), rounded, { atol: F32.grad.atol + 2 ** -24, rtol: F32.grad.rtol + 2 ** -10 }, "split float16: gradient in place");
      assert.deepEqual(now.subarray(0, 8), before.subarray(0, 8), "bytes before the view untouched");
      assert.deepEqual(now.subarray(8 + n * v * 2), before.subarray(8 + n * v * 2), "bytes after the view untouched");
      hb.destroy();
    });
  }

  if (typeof small === "string") test("row blocks", { skip: small }, () => {});
  else {
    test("row blocks bound at offsets of one buffer (vec4 and scalar rows, GPU probabilities aligned and copied, in place)", async () => {
      for (const [n, v, offset, pOffset] of [[23, 1000, 8, 16], [19, 1031, 100, 4], [17, 1000, 0, 8]] as const) {
        const x = new Float32Array(genValues(n * v, n + v, 8));
        const t = genTargets(n, 3, v);
        const probs = genProbs(n, v, 5);
        const weight = Float64Array.from(genValues(v, 6, 1), (w) => Math.abs(w) + 0.1);
        const xb = upload(device, x, offset);
        const pb = upload(device, probs, pOffset);
        const all: CrossEntropyOptions = { classes: v, labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 5, grad: true };
        const xv = { buffer: xb, offset, length: n * v };
        const label = `${n}x${v} at ${offset}, probs at ${pOffset}`;
        for (const [name, target, o] of [
          ["index", t, { classes: v, grad: true }],
          ["probs, all options", { probs: { buffer: pb, offset: pOffset } }, { ...all, reduction: "sum" }],
          ["probs on the host", { probs }, { ...all, reduction: "none" }],
        ] as const) {
          const got = await runGpu(small, xv, target, o);
          const hostTarget = "probs" in target ? { probs: Float64Array.from(probs) } : target;
          const want = crossEntropy(Float64Array.from(x), hostTarget, { ...o, backend: "reference" });
          assertClose(o.reduction === "none" ? got.rowLoss : got.loss, want.loss, F32.value, `${label} ${name} loss`);
          assertClose(got.lse, want.lse, F32.value, `${label} ${name} lse`);
          const g = got.grad as GPUBuffer;
          assertClose(new Float32Array(await readBack(device, g, 0, n * v * 4)), want.grad!, F32.grad, `${label} ${name} grad`);
          g.destroy();
        }
        const got = await runGpu(small, xv, t, { classes: v, grad: true, inplace: true });
        const want = crossEntropy(Float64Array.from(x), t, { classes: v, grad: true, backend: "reference" });
        assertClose(new Float32Array(await readBack(device, xb, offset, n * v * 4)), want.grad!, F32.grad, `${label} in place`);
        assert.equal(got.grad, xb);
        xb.destroy();
        pb.destroy();
      }
    });
  }

  /** One 16-bit ulp of |g| (relative), for the gradient's tolerance: float16 2^-10 (2^-24 absolute below its normals), bfloat16 2^-7. */
  const HALF_GRAD: Record<Half, { atol: number; rtol: number }> = {
    float16: { atol: F32.grad.atol + 2 ** -24, rtol: F32.grad.rtol + 2 ** -10 },
    bfloat16: { atol: F32.grad.atol, rtol: F32.grad.rtol + 2 ** -7 },
  };

  test("16-bit helpers round to nearest even and widen exactly", () => {
    assert.equal(f16Bits(1), 0x3c00);
    assert.equal(f16Bits(1 + 2 ** -11), 0x3c00); // a tie: to even
    assert.equal(f16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(f16Bits(65519), 0x7bff);
    assert.equal(f16Bits(65520), 0x7c00); // rounds to Infinity
    assert.equal(f16Bits(2 ** -25), 0); // a tie below the smallest subnormal: to 0
    assert.equal(f16Bits(1.5 * 2 ** -25), 1);
    assert.equal(f16Bits(-2), 0xc000);
    assert.equal(fromF16(0x7bff), 65504);
    assert.equal(fromF16(1), 2 ** -24);
    assert.equal(bf16Bits(1 + 2 ** -8), 0x3f80); // a tie: to even
    assert.equal(bf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(fromBf16(0x3f82), 1 + 2 ** -6);
    assert.ok(Number.isNaN(fromF16(f16Bits(NaN))) && Number.isNaN(fromBf16(bf16Bits(NaN))));
  });

  test("float16 and bfloat16 logits on the GPU and from Uint16Array: the reference of their float32 widening; the gradient in their format", async () => {
    for (const dtype of ["float16", "bfloat16"] as const) {
      for (const [n, v, offset] of [[7, 1000, 0], [5, 998, 8], [4, 1000, 4], [3, 6, 12], [5, 999, 0], [4, 37, 4], [3, 5, 8]] as const) {
        const { bits, wide } = toHalf(dtype, genValues(n * v, n + v + offset, 8));
        const t = genTargets(n, 4, v);
        t[0] = -100;
        const buf = upload(device, bits, offset, 4);
        const label = `${dtype} ${n}x${v} at byte ${offset}`;
        for (const o of [{ classes: v, grad: true }, { classes: v, grad: true, labelSmoothing: 0.1, zLoss: 1e-3, softcap: 5, reduction: "none" as const }]) {
          const got = await engine.crossEntropy({ buffer: buf, offset, length: n * v, dtype }, t, o);
          const want = crossEntropy(wide, t, { ...o, backend: "reference" });
          assertClose(got.loss, want.loss, F32.value, `${label} loss`);
          assertClose(got.lse, want.lse, F32.value, `${label} lse`);
          const g = got.grad as GPUBuffer;
          const gBits = new Uint16Array(await readBack(device, g, 0, n * v * 2));
          g.destroy();
          const rounded = fromHalf(dtype, toHalf(dtype, want.grad!).bits);
          assertClose(fromHalf(dtype, gBits), rounded, HALF_GRAD[dtype], `${label} grad`);
          // same lanes as the float32 path (vec4): the float32 gradient, rounded, bit for bit
          if (v % 4 === 0 && offset % 8 === 0) {
            const f = await engine.crossEntropy(Float32Array.from(wide), t, o);
            assert.deepEqual(gBits, toHalf(dtype, f.grad!).bits, `${label}: the float32 path's gradient rounded to nearest even`);
          }
          // host 16-bit logits: uploaded packed, the gradient a Uint16Array of the same bits
          const host = await engine.crossEntropy(bits, t, { ...o, dtype });
          assert.ok(host.grad instanceof Uint16Array);
          assert.deepEqual(host.lse, got.lse);
          if (offset % 8 === 0) assert.deepEqual(host.grad, gBits, `${label}: Uint16Array as the GPU buffer`);
          else assertClose(fromHalf(dtype, host.grad), rounded, HALF_GRAD[dtype], `${label} Uint16Array grad`);
        }
        // without a gradient (host and GPU): the same per-row values
        const fwd = await engine.crossEntropy(bits, t, { classes: v, dtype, reduction: "none" });
        const fwdGpu = await engine.crossEntropy({ buffer: buf, offset, length: n * v, dtype }, t, { classes: v, reduction: "none" });
        assert.deepEqual(fwd.lse, fwdGpu.lse, `${label}: lse without a gradient, host and GPU`);
        assertClose(fwd.loss, crossEntropy(wide, t, { classes: v, reduction: "none", backend: "reference" }).loss, F32.value, `${label} loss without a gradient`);
        // in place, over the view and over the host array
        const copy = bits.slice();
        const inHost = await engine.crossEntropy(copy, t, { classes: v, dtype, grad: true, inplace: true });
        assert.equal(inHost.grad, copy);
        const inGpu = await engine.crossEntropy({ buffer: buf, offset, length: n * v, dtype }, t, { classes: v, grad: true, inplace: true });
        assert.equal(inGpu.grad, buf);
        const whole = new Uint8Array(await readBack(device, buf, 0, buf.size));
        assert.ok(whole.subarray(0, offset).every((b) => b === 0xab) && whole.subarray(offset + n * v * 2).every((b) => b === 0xab), `${label}: the bytes around the view untouched`);
        const over = new Uint16Array(await readBack(device, buf, offset, n * v * 2));
        const want = crossEntropy(wide, t, { classes: v, grad: true, backend: "reference" });
        assertClose(fromHalf(dtype, over), fromHalf(dtype, toHalf(dtype, want.grad!).bits), HALF_GRAD[dtype], `${label} in place`);
        assertClose(fromHalf(dtype, copy), fromHalf(dtype, toHalf(dtype, want.grad!).bits), HALF_GRAD[dtype], `${label} Uint16Array in place`);
        buf.destroy();
      }
    }
  });

  if (typeof small !== "string") {
    test("16-bit logits in row blocks bound at offsets (even and odd V), with probability targets, in place", async () => {
      for (const [n, v, offset] of [[29, 1000, 12], [23, 1001, 8]] as const) {
        const label = `bfloat16 ${n}x${v} at ${offset}`;
        const { bits, wide } = toHalf("bfloat16", genValues(n * v, 3, 6));
        const probs = genProbs(n, v, 8);
        const buf = upload(device, bits, offset, 6);
        const pb = upload(device, probs, 4);
        const got = await runGpu(small, { buffer: buf, offset, length: n * v, dtype: "bfloat16" }, { probs: { buffer: pb, offset: 4 } }, { classes: v, grad: true, labelSmoothing: 0.05 });
        const want = crossEntropy(wide, { probs: Float64Array.from(probs) }, { classes: v, grad: true, labelSmoothing: 0.05, backend: "reference" });
        assertClose(got.loss, want.loss, F32.value, `${label} loss`);
        assertClose(got.lse, want.lse, F32.value, `${label} lse`);
        const g = got.grad as GPUBuffer;
        const gBits = new Uint16Array(await readBack(device, g, 0, n * v * 2));
        const rounded = fromHalf("bfloat16", toHalf("bfloat16", want.grad!).bits);
        assertClose(fromHalf("bfloat16", gBits), rounded, HALF_GRAD.bfloat16, `${label} grad`);
        g.destroy();
        await runGpu(small, { buffer: buf, offset, length: n * v, dtype: "bfloat16" }, { probs: { buffer: pb, offset: 4 } }, { classes: v, grad: true, inplace: true, labelSmoothing: 0.05 });
        const whole = new Uint8Array(await readBack(device, buf, 0, buf.size));
        assertClose(fromHalf("bfloat16", new Uint16Array(whole.slice(offset, offset + n * v * 2).buffer)), rounded, HALF_GRAD.bfloat16, `${label} in place`);
        assert.ok(whole.subarray(0, offset).every((b) => b === 0xab) && whole.subarray(offset + n * v * 2).every((b) => b === 0xab), `${label}: the bytes around the view untouched`);
        buf.destroy();
        pb.destroy();
      }
    });
  }

  test("submitCrossEntropy: submitted at once, the per-row loss and lse left on the GPU, the mean's denominator", async () => {
    const [n, v] = [5, 40];
    const x = new Float32Array(genValues(n * v, 21, 5));
    const t = Int32Array.from([3, -100, 7, 0, 39]);
    const buf = upload(device, x);
    const sub = engine.submitCrossEntropy(buf, t, { classes: v, grad: true, inplace: true, labelSmoothing: 0.1 });
    assert.equal(sub.denominator, 4);
    assert.equal(sub.grad, buf);
    const rows = new Float32Array(await readBack(device, sub.rows, 0, n * 8));
    const want = crossEntropy(Float64Array.from(x), t, { classes: v, grad: true, labelSmoothing: 0.1, reduction: "none", backend: "reference" });
    assertClose(rows.filter((_, i) => i % 2 === 0), want.loss, F32.value, "per-row loss");
    assertClose(rows.filter((_, i) => i % 2 === 1), want.lse, F32.value, "lse");
    const g = new Float32Array(await readBack(device, buf, 0, n * v * 4));
    assertClose(g, want.grad!.map((a) => a / 4), F32.grad, "grad (mean: over D)");
    const js = await createEngine({ backend: "js" });
    assert.throws(() => js.submitCrossEntropy(buf, t, { classes: v }), /engine\.submitCrossEntropy: this engine runs on js; expected an engine on the webgpu backend/);
    js.dispose();
    buf.destroy();
  });

  test("GPU inputs: what is refused, with one line naming the argument", async () => {
    const v = 8;
    const x = new Float32Array(4 * v);
    const buf = upload(device, x);
    const noStorage = device.createBuffer({ size: 128, usage: COPY_DST | COPY_SRC });
    const t = [1, 2, 3, 4];
    await assert.rejects(engine.crossEntropy(noStorage, t, { classes: v }), /logits's buffer has usage 0xc without GPUBufferUsage\.STORAGE/);
    await assert.rejects(engine.crossEntropy({ buffer: buf, offset: 2 }, t, { classes: v }), /logits\.offset is 2; expected a byte offset >= 0, a multiple of 4/);
    await assert.rejects(engine.crossEntropy({ buffer: buf, length: 40 }, t, { classes: v }), /logits holds 40 float32 values from byte 0, 160 bytes, past the buffer's size 128/);
    await assert.rejects(engine.crossEntropy(buf, t), /options\.classes is required with GPU or 16-bit logits/);
    await assert.rejects(engine.crossEntropy(buf, t, { classes: 5 }), /not a multiple of classes = 5/);
    await assert.rejects(engine.crossEntropy(buf, [1, 2], { classes: v }), /target has length 2; expected N = 4/);
    await assert.rejects(engine.crossEntropy(buf, t, { classes: v, argmax: true }), /not computed by the GPU kernel/);
    await assert.rejects(engine.crossEntropy(buf, t, { classes: v, inplace: true }), /inplace needs options\.grad = true/);
    await assert.rejects(engine.crossEntropy(buf, { probs: { buffer: buf, dtype: "float16" } }, { classes: v }), /target\.probs has dtype "float16"; expected float32/);
    await assert.rejects(engine.crossEntropy({ buffer: buf, dtype: "float16" }, t, { classes: v, dtype: "bfloat16" }), /logits\.dtype is "float16" and options\.dtype "bfloat16"/);
    await assert.rejects(engine.crossEntropy(new Uint16Array(32), t, { classes: v }), /logits is a Uint16Array; expected options\.dtype "float16" or "bfloat16"/);
    assert.throws(() => crossEntropy(new Float32Array(32), t, { classes: v, dtype: "float16" }), /options\.dtype is "float16"; 16-bit logits run on an engine on the webgpu backend only/);
    assert.throws(() => Reflect.apply(crossEntropy, undefined, [new Uint16Array(32), t, { classes: v }]), /logits is a Uint16Array of 16-bit floats; only engine\.crossEntropy on an engine on the webgpu backend/);
    // GPU probabilities need GPU logits
    await assert.rejects(engine.crossEntropy(x, { probs: buf }, { classes: v }), /target\.probs is a GPU buffer with logits a Float32Array/);
    // the synchronous API and other engines refuse GPU buffers
    assert.throws(() => Reflect.apply(crossEntropy, undefined, [buf, t, { classes: v }]), /^TypeError: crossEntropy: logits is a GPU buffer; only an engine on the webgpu backend takes GPU buffers/);
    const js = await createEngine({ backend: "js" });
    await assert.rejects(js.crossEntropy(buf, t, { classes: v }), /engine\.crossEntropy: logits is a GPU buffer; only an engine on the webgpu backend takes GPU buffers/);
    js.dispose();
    // the webgpu engine's other calls take host arrays only
    await assert.rejects(Reflect.apply(engine.distillationLoss, engine, [buf, x, { classes: v }]), /engine\.distillationLoss: studentLogits is a GPU buffer; only an engine on the webgpu backend takes GPU buffers \(createEngine\(\{ backend: "webgpu" \}\): crossEntropy, submitCrossEntropy, submitLinearCrossEntropy\)/);
    await assert.rejects(Reflect.apply(engine.linearCrossEntropy, engine, [buf, x, t]), /engine\.linearCrossEntropy: hidden is a GPU buffer; only an engine on the webgpu backend takes GPU buffers \(createEngine\(\{ backend: "webgpu" \}\): crossEntropy, submitCrossEntropy, submitLinearCrossEntropy\)/);
    buf.destroy();
    noStorage.destroy();
  });
}
