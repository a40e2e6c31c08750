/**
 * `import "xent"` loads no embedded code: the wasm kernels (wasm.gen), the engine's host code and
 * the WebGPU executor with its shaders (wgsl.gen) are imported only when `init()` or
 * `createEngine()` asks for them. A child process records every module the loader fetches.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The src/ modules a child loads running `body` after `import * as xent from "./src/index.ts"`. */
function loaded(body: string): string[] {
  // The hook runs on the loader's own thread (Node 22 and later), whose stderr may be cut off when
  // the process exits: it appends each URL to a file, synchronously, before the module loads.
  const dir = mkdtempSync(join(tmpdir(), "xent-lazy-"));
  const log = join(dir, "loaded.txt");
  try {
    const hook = `data:text/javascript,${encodeURIComponent(
      `import { appendFileSync } from "node:fs";
export async function load(url, context, next) { if (url.includes("/src/")) appendFileSync(${JSON.stringify(log)}, url.slice(url.indexOf("/src/") + 1) + "\\n"); return next(url, context); }`,
    )}`;
    const main = `import { register } from "node:module";
register(${JSON.stringify(hook)});
const xent = await import("./src/index.ts");
${body}`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", main], { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(log, "utf8").split("\n").filter((l) => l !== "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("import loads no embedded kernels, engine or WebGPU executor; init() and createEngine() load them", () => {
  const lazy = ["src/backends/wasm/wasm.gen.ts", "src/backends/wasm/executor.ts", "src/backends/wasm/instance.ts", "src/backends/webgpu/executor.ts", "src/backends/webgpu/wgsl.gen.ts"];
  const atImport = loaded(`if (typeof xent.wasmFeatures().simd !== "boolean") throw new Error("no features");`);
  assert.ok(atImport.includes("src/index.ts") && atImport.includes("src/backends/registry.ts"), `the entry was traced: ${atImport.join(", ")}`);
  for (const m of lazy) assert.ok(!atImport.includes(m), `import "xent" (and wasmFeatures()) loaded ${m}`);

  const afterInit = loaded(`if (!(await xent.init())) throw new Error("no wasm");`);
  for (const m of ["src/backends/wasm/wasm.gen.ts", "src/backends/wasm/instance.ts"]) assert.ok(afterInit.includes(m), `init() did not load ${m}`);
  assert.ok(!afterInit.includes("src/backends/webgpu/executor.ts"), "init() loaded the WebGPU executor");

  const afterEngine = loaded(`const e = await xent.createEngine({ threads: 1 }); e.dispose();`);
  for (const m of ["src/backends/wasm/wasm.gen.ts", "src/backends/wasm/executor.ts"]) assert.ok(afterEngine.includes(m), `createEngine() did not load ${m}`);
});
