/// <reference types="@webgpu/types" />
/**
 * Getting a GPUDevice: the caller's, or one from `navigator.gpu` (browsers, Deno), or in Node
 * from the `webgpu` npm package (Dawn), an optional peer dependency loaded only here, on demand.
 *
 * Dawn's `create()` returns the GPU object whose lifetime holds the native instance: it must stay
 * referenced as long as the device is used (the executor keeps it), or the process crashes.
 */

/** What the `webgpu` package exports (only the part used here). */
interface DawnModule {
  create(flags: string[]): GPU;
  globals: object;
}

function isDawnModule(m: unknown): m is DawnModule {
  return typeof m === "object" && m !== null && "create" in m && typeof m.create === "function" && "globals" in m;
}

/** The device and what keeps it alive. `owned` is true when the executor must destroy it. */
export interface AcquiredDevice {
  device: GPUDevice;
  /** The GPU object the device came from (Dawn's must stay referenced), or null for a caller's device. */
  gpu: GPU | null;
  owned: boolean;
  /** A short name of the adapter, for benchmarks and error messages. */
  adapterName: string;
}

/** "vendor architecture device description" of a GPUAdapterInfo (`adapter.info`, `device.adapterInfo`), where the platform has one. */
function adapterLabel(owner: object, key: "info" | "adapterInfo"): string {
  const info: unknown = key in owner ? Reflect.get(owner, key) : undefined;
  if (typeof info !== "object" || info === null) return "unknown adapter";
  const parts = ["vendor", "architecture", "device", "description"].map((k) => Reflect.get(info, k)).filter((s) => typeof s === "string" && s.length > 0);
  return parts.length > 0 ? parts.join(" ") : "unknown adapter";
}

async function findGpu(): Promise<GPU> {
  if (typeof navigator !== "undefined" && navigator.gpu !== undefined) return navigator.gpu;
  const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
  if (!isNode) throw new Error("webgpu backend: this environment has no navigator.gpu (WebGPU is not available)");
  const name = "webgpu"; // a variable, so that bundlers for the browser do not try to resolve it
  let mod: unknown;
  try {
    mod = await import(name);
  } catch {
    throw new Error('webgpu backend: in Node it needs the "webgpu" npm package (Dawn); install it with `npm install webgpu`');
  }
  if (!isDawnModule(mod)) throw new Error('webgpu backend: the "webgpu" package does not export create() and globals; expected the Dawn bindings');
  // Dawn's classes (GPUBufferUsage and the rest) as globals, as in a browser.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  return mod.create([]);
}

/** Request an adapter and a device with the adapter's largest storage-binding and buffer limits, and its `subgroups` and `timestamp-query` features where it has them. */
export async function acquireDevice(device: GPUDevice | undefined): Promise<AcquiredDevice> {
  if (device !== undefined) return { device, gpu: null, owned: false, adapterName: adapterLabel(device, "adapterInfo") };
  const gpu = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) {
    throw new Error(
      "webgpu backend: no WebGPU adapter found (in Node on Linux: a Vulkan driver and loader, e.g. libvulkan1 with VK_ICD_FILENAMES pointing at a driver's ICD file)",
    );
  }
  const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
  // Subgroup operations speed up the kernels' reductions (crossEntropy.wgsl SUBGROUPS);
  // timestamp queries let a benchmark time the kernels alone. ("subgroups" is newer than the
  // GPUFeatureName of @webgpu/types: a name the adapter reports is one, whatever the types know.)
  const wanted = new Set(["subgroups", "timestamp-query"]);
  const requiredFeatures = [...adapter.features].filter((f): f is GPUFeatureName => wanted.has(f));
  const dev = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize }, requiredFeatures });
  return { device: dev, gpu, owned: true, adapterName: adapterLabel(adapter, "info") };
}

/** Open the error scopes a kernel call records its GPU work in (closed by `popErrorScopes`). */
export function pushErrorScopes(device: GPUDevice): void {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
}

/**
 * Close the scopes of `pushErrorScopes`: a validation or out-of-memory error the GPU reports
 * rejects, naming `what`; else `failure` (what the recording code threw, or null) is rethrown.
 */
export async function popErrorScopes(device: GPUDevice, what: string, failure: unknown): Promise<void> {
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const err = validation ?? oom;
  if (err !== null) throw new Error(`webgpu backend: ${what} failed on the GPU: ${err.message}`);
  if (failure !== null) throw failure;
}
