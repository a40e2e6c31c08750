/**
 * Tests the package we ship, not the sources: build, `npm pack`, check the tarball's contents,
 * install it into an empty project (without peer or engine warnings), import `xent` by name from
 * ESM, type-check a strict TypeScript file against the installed types, and run its `xent` bin.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

test("the packed tarball installs and imports as `xent` from ESM, with strict types and a working bin", () => {
  const dir = mkdtempSync(join(tmpdir(), "xent-pack-"));
  try {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
    const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" })) as {
      filename: string;
      files: { path: string }[];
    }[];
    const tgz = packed[0]!.filename;
    const shipped = packed[0]!.files.map((f) => f.path);
    for (const f of ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js"]) {
      assert.ok(shipped.includes(f), `the tarball lacks ${f}`);
    }
    // no source maps (they would point at src/, which is not shipped), no sources, no tests
    assert.deepEqual(shipped.filter((f) => f.endsWith(".map") || /^(src|test|docs|bench|scripts)\//.test(f)), []);

    const app = join(dir, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    const install = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, tgz)], { cwd: app, encoding: "utf8" });
    assert.equal(install.status, 0, install.stderr);
    const warnings = install.stderr.split("\n").filter((l) => /peer|EBADENGINE|ERESOLVE|deprecated/i.test(l));
    assert.deepEqual(warnings, [], "npm install xent warned");
    const pkgDir = join(app, "node_modules", "xent");
    const installed = walk(join(pkgDir, "dist"));
    assert.ok(installed.some((f) => f.endsWith("index.js")) && installed.some((f) => f.endsWith("index.d.ts")));
    const mapped = installed.filter((f) => f.endsWith(".js") && readFileSync(f, "utf8").includes("sourceMappingURL"));
    assert.deepEqual(mapped, [], "shipped .js files refer to source maps");
    assert.ok(!readdirSync(join(pkgDir, "dist")).includes("examples"), "the trainer is its own package, not shipped in xent's dist");

    writeFileSync(
      join(app, "main.mjs"),
      `import { crossEntropy, perplexity } from "xent";
const out = crossEntropy([Math.log(0.7), Math.log(0.2), Math.log(0.1)], [0], { classes: 3, grad: true });
console.log(JSON.stringify({ loss: out.loss, grad: Array.from(out.grad), ppl: perplexity([[0, 0]], [1]) }));`,
    );
    const got = JSON.parse(execFileSync("node", ["main.mjs"], { cwd: app, encoding: "utf8" })) as { loss: number; grad: number[]; ppl: number };
    assert.equal(got.loss.toFixed(6), "0.356675");
    assert.deepEqual(got.grad.map((g) => g.toFixed(6)), ["-0.300000", "0.200000", "0.100000"]);
    assert.ok(Math.abs(got.ppl - 2) < 1e-12);

    // a strict TypeScript user of the installed package: its declarations resolve and check
    writeFileSync(
      join(app, "use.ts"),
      `import { createEngine, crossEntropy, linearCrossEntropy, type CrossEntropyOptions } from "xent";
const out = crossEntropy(new Float32Array([2, 1, 0.1]), [0], { classes: 3, grad: true, labelSmoothing: 0.1 });
const loss: number = out.loss;
const grad: Float32Array = out.grad;
const perToken: Float64Array = crossEntropy([[2, 1, 0.1]], [0], { reduction: "none" }).loss;
// @ts-expect-error TS2339: "none" gives the per-token array, not a number
perToken.toFixed(2);
const options: CrossEntropyOptions = { classes: 3, backend: "js" };
const wide = crossEntropy(new Float32Array([2, 1, 0.1]), [0], options);
const either: number | Float32Array = wide.loss;
const head = linearCrossEntropy(new Float32Array(2), new Float32Array(6), [0], { grad: true, bias: [0, 0, 0] });
const gradBias: Float32Array = head.gradBias;
export async function engineStep(): Promise<number> {
  const engine = await createEngine({ backend: "auto" });
  const r = await engine.crossEntropy(engine.alloc(3), [0], { classes: 3, grad: true });
  engine.free(r.grad);
  engine.dispose();
  return r.loss;
}
export const result = { loss, grad: grad.length, perToken, either, gradBias };
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [] },
        files: ["use.ts"],
      }),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const check = spawnSync(process.execPath, [tsc, "-p", "."], { cwd: app, encoding: "utf8" });
    assert.equal(check.status, 0, `strict tsc against the installed types:\n${check.stdout}${check.stderr}`);

    const bin = execFileSync(join(app, "node_modules", ".bin", "xent"), ["loss", "--probs", "0.7,0.2,0.1", "--target", "0"], { encoding: "utf8" });
    assert.equal(bin, "0.356675 nats\n");
    // the library and `xent loss` only: commander is its one dependency, tfjs-core an optional
    // peer for xent/tfjs, webgpu one for the WebGPU backend in Node, and nothing of the trainer's
    // comes along
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "xent", "package.json"), "utf8")) as { dependencies?: object; peerDependencies?: object; workspaces?: unknown };
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), ["commander"]);
    assert.deepEqual(Object.keys(manifest.peerDependencies ?? {}), ["@tensorflow/tfjs-core", "webgpu"]);
    assert.deepEqual(readdirSync(join(app, "node_modules")).filter((d) => !d.startsWith(".")).sort(), ["commander", "xent"]);
    const train = spawnSync(join(app, "node_modules", ".bin", "xent"), ["train", "--steps", "1"], { cwd: app, encoding: "utf8" });
    assert.equal(train.status, 2, train.stderr);
    assert.equal(train.stderr, "xent: unknown command 'train'\n");
    // the WebGPU kernels' WGSL is embedded in the JavaScript (no asset beside it); without the
    // optional `webgpu` package, createEngine({ backend: "webgpu" }) in Node names it in one line
    assert.ok(installed.some((f) => f.endsWith("wgsl.gen.js") && readFileSync(f, "utf8").includes("@compute")), "the WGSL is not embedded in dist");
    writeFileSync(
      join(app, "gpu.mjs"),
      `import { createEngine } from "xent";
try { await createEngine({ backend: "webgpu" }); console.log("created"); } catch (e) { console.log(e.message); }`,
    );
    assert.match(execFileSync("node", ["gpu.mjs"], { cwd: app, encoding: "utf8" }), /^webgpu backend: in Node it needs the "webgpu" npm package \(Dawn\); install it with `npm install webgpu`\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
