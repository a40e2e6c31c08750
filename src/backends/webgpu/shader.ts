/// <reference types="@webgpu/types" />
/**
 * WGSL sources and compute pipelines. Each kernel's WGSL lives in a .wgsl file beside its host;
 * scripts/build-wgsl.mjs embeds them as strings in wgsl.gen.ts, so no asset is loaded at run time.
 *
 * Variants of one kernel (what changes the code: element width, where the gradient goes) come
 * from `//#if NAME`, `//#else`, `//#endif` lines, one level deep. Everything else (shapes, option
 * values) is a uniform, so the pipeline cache is keyed only by the variant's defines.
 */

/** Keep the lines of the `//#if` branches whose name is in `defines`. */
function preprocess(source: string, defines: ReadonlySet<string>): string {
  const out: string[] = [];
  let keep = true;
  let inIf = false;
  let taken = false;
  for (const line of source.split("\n")) {
    const t = line.trim();
    const m = /^\/\/#if\s+(\w+)$/.exec(t);
    if (m !== null) {
      if (inIf) throw new Error("webgpu backend: nested //#if in a WGSL source");
      inIf = true;
      taken = defines.has(m[1]!);
      keep = taken;
      continue;
    }
    if (t === "//#else") {
      keep = inIf && !taken;
      continue;
    }
    if (t === "//#endif") {
      inIf = false;
      keep = true;
      continue;
    }
    if (keep) out.push(line);
  }
  return out.join("\n");
}

/** A kernel variant: the WGSL source (by its label) and the `//#if` names it is compiled with. */
export interface KernelVariant {
  readonly label: string;
  readonly source: string;
  readonly defines: readonly string[];
}

/** The cache key of a kernel variant: its label and its defines, in any order. */
const keyOf = (label: string, defines: readonly string[]): string => `${label}|${[...defines].sort().join(",")}`;

/** Compute pipelines of one device, keyed by source and defines. */
class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** The pipelines compiled so far, for getSync. */
  private readonly ready = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  /** The pipeline of a variant, compiled once (concurrent calls share the compile). */
  get(label: string, source: string, defines: readonly string[]): Promise<GPUComputePipeline> {
    const key = keyOf(label, defines);
    let p = this.pipelines.get(key);
    if (p === undefined) {
      p = this.compile(key, preprocess(source, new Set(defines)));
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  /**
   * The pipeline of a variant, at once: the compiled one when `get` has finished it, else a
   * synchronous compile (createComputePipeline; WGSL errors then reach the device's
   * uncaptured-error handler).
   */
  getSync(label: string, source: string, defines: readonly string[]): GPUComputePipeline {
    const key = keyOf(label, defines);
    const done = this.ready.get(key);
    if (done !== undefined) return done;
    const code = preprocess(source, new Set(defines));
    const p = this.device.createComputePipeline({ label: key, layout: "auto", compute: { module: this.device.createShaderModule({ label: key, code }), entryPoint: "main" } });
    this.ready.set(key, p);
    return p;
  }

  /** Compile these variants asynchronously (once each), so that `getSync` then finds them ready. */
  async warm(variants: Iterable<KernelVariant>): Promise<void> {
    await Promise.all(Array.from(variants, (k) => this.get(k.label, k.source, k.defines)));
  }

  private async compile(key: string, code: string): Promise<GPUComputePipeline> {
    const module = this.device.createShaderModule({ label: key, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length > 0) {
      const msg = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
      throw new Error(`webgpu backend: WGSL of ${key} does not compile: ${msg}`);
    }
    const p = await this.device.createComputePipelineAsync({ label: key, layout: "auto", compute: { module, entryPoint: "main" } });
    this.ready.set(key, p);
    return p;
  }
}

const caches = new WeakMap<GPUDevice, PipelineCache>();

/**
 * The pipeline cache of a device, shared by every executor on it: engines on one device (a
 * caller's, shared with TensorFlow.js for instance) compile each variant once.
 */
export function pipelinesOf(device: GPUDevice): PipelineCache {
  let c = caches.get(device);
  if (c === undefined) {
    c = new PipelineCache(device);
    caches.set(device, c);
  }
  return c;
}

export type { PipelineCache };
