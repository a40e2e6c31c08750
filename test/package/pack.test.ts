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
      `import { createEngine, crossEntropy, type CrossEntropyOptions } from "xent";
const options: CrossEntropyOptions = { classes: 3, grad: true, labelSmoothing: 0.1 };
const out = crossEntropy(new Float32Array([2, 1, 0.1]), [0], options);
const loss: number = typeof out.loss === "number" ? out.loss : NaN;
export const result = { loss, grad: out.grad?.length ?? 0, engine: createEngine };
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
    // the trainer's packages are optional peers: installing xent does not pull tfjs, and
    // `xent train` then says in one line what to install
    assert.ok(!readdirSync(join(app, "node_modules")).includes("@tensorflow"), "tfjs was installed with xent");
    const train = spawnSync(join(app, "node_modules", ".bin", "xent"), ["train", "--steps", "1"], { cwd: app, encoding: "utf8" });
    assert.equal(train.status, 2, train.stderr);
    assert.match(train.stderr, /^xent: xent train needs the trainer's packages \(.+ is missing\); install them with: npm install @tensorflow\/tfjs /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
