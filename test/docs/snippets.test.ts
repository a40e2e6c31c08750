/**
 * Every TypeScript code block of README.md and docs/*.md type-checks under the project's strict
 * compiler settings (strict, noUncheckedIndexedAccess), each block as its own ES module, with
 * "xent" and "xent/tfjs" resolved to this repository's sources. A snippet that needs values it
 * does not build itself declares them (`declare const model: ...`).
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { program } from "../helpers/tsc.js";
import { codeBlocks, markdownFiles, read, root } from "./markdown.js";

interface Snippet {
  file: string;
  line: number;
  path: string;
  code: string;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of markdownFiles().filter((f) => f === "README.md" || /^docs\/[^/]+\.md$/.test(f))) {
    for (const b of codeBlocks(read(file))) {
      if (b.lang !== "ts" && b.lang !== "typescript") continue;
      // a virtual file beside its document, so that node_modules, package.json and the
      // document's own relative imports resolve
      const path = join(root, dirname(file), `.snippet-${file.replace(/[^a-z0-9]/gi, "_")}-L${b.line}.ts`);
      out.push({ file, line: b.line, path, code: b.code });
    }
  }
  return out;
}

test("every TypeScript block of README.md and docs/*.md type-checks under strict tsc", () => {
  const all = snippets();
  const perFile = new Map<string, number>();
  for (const s of all) perFile.set(s.file, (perFile.get(s.file) ?? 0) + 1);
  assert.ok((perFile.get("README.md") ?? 0) >= 3, `README.md has ${perFile.get("README.md") ?? 0} TypeScript blocks; expected its 3 snippets at least`);

  const byPath = new Map(all.map((s) => [s.path, s]));
  const checked = program([...byPath.keys()], new Map(all.map((s) => [s.path, s.code])));
  const errors: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(checked)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    const s = d.file === undefined ? undefined : byPath.get(d.file.fileName);
    if (d.file !== undefined && d.start !== undefined && s !== undefined) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      errors.push(`${s.file}:${s.line + line}:${character + 1}: TS${d.code}: ${msg}`);
    } else {
      errors.push(`${d.file?.fileName ?? "(program)"}: TS${d.code}: ${msg}`);
    }
  }
  assert.deepEqual(errors, [], `${errors.length} type errors in the docs' snippets:\n${errors.join("\n")}`);
});
