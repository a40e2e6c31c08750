/// <reference types="@webgpu/types" />
/**
 * WGSL sources and compute pipelines. Each kernel's WGSL lives in a .wgsl file beside its host,
 * loaded once by URL (Node: the file system; browsers: fetch; bundlers see the
 * `new URL("./x.wgsl", import.meta.url)` pattern and ship the file as an asset).
 *
 * Variants of one kernel (what changes the code: element width, where the gradient goes) come
 * from `//#if NAME`, `//#else`, `//#endif` lines, one level deep. Everything else (shapes, option
 * values) is a uniform, so the pipeline cache is keyed only by the variant's defines.
 */

const sources = new Map<string, Promise<string>>();

async function readSource(url: URL): Promise<string> {
  if (url.protocol === "file:") {
    const fs = "node:fs/promises"; // a variable: bundlers for the browser leave it alone
    const mod: unknown = await import(fs);
    if (typeof mod !== "object" || mod === null || !("readFile" in mod) || typeof mod.readFile !== "function") {
      throw new Error("webgpu backend: node:fs/promises has no readFile");
    }
    const text: unknown = await mod.readFile(url, "utf8");
    if (typeof text !== "string") throw new Error(`webgpu backend: could not read ${url.href}`);
    return text;
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`webgpu backend: could not load ${url.href} (HTTP ${res.status})`);
  return res.text();
}

/** The text of a .wgsl file, read once per URL. */
export function loadSource(url: URL): Promise<string> {
  let p = sources.get(url.href);
  if (p === undefined) {
    p = readSource(url);
    sources.set(url.href, p);
    p.catch(() => sources.delete(url.href));
  }
  return p;
}

/** Keep the lines of the `//#if` branches whose name is in `defines`. */
export function preprocess(source: string, defines: ReadonlySet<string>): string {
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

/** Compute pipelines of one device, keyed by source and defines. */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  async get(label: string, source: string, defines: readonly string[]): Promise<GPUComputePipeline> {
    const key = `${label}|${[...defines].sort().join(",")}`;
    const hit = this.pipelines.get(key);
    if (hit !== undefined) return hit;
    const code = preprocess(source, new Set(defines));
    const module = this.device.createShaderModule({ label: key, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length > 0) {
      const msg = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
      throw new Error(`webgpu backend: WGSL of ${key} does not compile: ${msg}`);
    }
    const pipeline = await this.device.createComputePipelineAsync({ label: key, layout: "auto", compute: { module, entryPoint: "main" } });
    this.pipelines.set(key, pipeline);
    return pipeline;
  }
}
