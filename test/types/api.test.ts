/**
 * The public API's types under strict tsc: test/types/fixtures/api.ts must compile, and each line
 * after a `// @ts-expect-error TSnnnn: why` must fail with that error code. The directives are
 * switched off (the file is checked with them as plain comments), so that an expected error
 * that no longer occurs, or a different one, fails here with its line.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { program } from "../helpers/tsc.js";

const fixture = fileURLToPath(new URL("./fixtures/api.ts", import.meta.url));
const DIRECTIVE = /\/\/ @ts-expect-error (TS\d+):/;

/** "line: TSnnnn message" for each error of the fixture checked with `code` as its text. */
function errors(code: string): { line: number; code: string; text: string }[] {
  const p = program([fixture], new Map([[fixture, code]]));
  return ts.getPreEmitDiagnostics(p).map((d) => ({
    line: d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    code: `TS${d.code}`,
    text: ts.flattenDiagnosticMessageText(d.messageText, " "),
  }));
}

test("the public API's types: precise where the call says, unions where it does not", () => {
  const source = readFileSync(fixture, "utf8");
  const lines = source.split("\n");
  // every directive names the error it expects
  const expected = new Map<number, string>();
  lines.forEach((l, i) => {
    if (!l.trimStart().startsWith("// @ts-expect-error")) return;
    const m = DIRECTIVE.exec(l);
    assert.ok(m !== null, `fixtures/api.ts:${i + 1}: a @ts-expect-error without "TSnnnn:": ${l.trim()}`);
    expected.set(i + 2, m[1]!);
  });
  assert.ok(expected.size >= 15, `${expected.size} expected errors in the fixture; expected 15 or more`);

  // as written: no error at all (an unused directive is one, TS2578)
  assert.deepEqual(errors(source).map((e) => `fixtures/api.ts:${e.line}: ${e.code} ${e.text}`), []);

  // without the directives: exactly the expected errors, on their lines
  const got = errors(source.replaceAll("// @ts-expect-error", "// expect-error    "));
  const wrong = got.filter((e) => expected.get(e.line) !== e.code).map((e) => `fixtures/api.ts:${e.line}: unexpected ${e.code} ${e.text}`);
  const missing = [...expected].filter(([line, code]) => !got.some((e) => e.line === line && e.code === code)).map(([line, code]) => `fixtures/api.ts:${line}: expected ${code}, none`);
  assert.deepEqual([...missing, ...wrong], []);
});
