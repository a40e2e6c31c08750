/**
 * The project's strict compiler settings (tsconfig.json) for type-checking files in memory, and
 * the diagnostics of a program as "file:line:col: TSnnnn: message" lines.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** tsconfig.json's options, for checking only (no output), every file an ES module. */
export function compilerOptions(): ts.CompilerOptions {
  const cfg = ts.readConfigFile(join(root, "tsconfig.json"), (p) => ts.sys.readFile(p));
  if (cfg.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(cfg.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, root);
  return { ...parsed.options, noEmit: true, declaration: false, sourceMap: false, moduleDetection: ts.ModuleDetectionKind.Force };
}

/** A program over `files` (absolute paths) whose contents, where given in `code`, come from there instead of the disk. */
export function program(files: readonly string[], code: ReadonlyMap<string, string> = new Map()): ts.Program {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (p) => code.has(p) || fileExists.call(host, p);
  host.readFile = (p) => code.get(p) ?? readFile.call(host, p);
  host.getSourceFile = (p, lang, onError, create) => {
    const text = code.get(p);
    return text !== undefined ? ts.createSourceFile(p, text, lang) : getSourceFile.call(host, p, lang, onError, create);
  };
  return ts.createProgram([...files], options, host);
}
