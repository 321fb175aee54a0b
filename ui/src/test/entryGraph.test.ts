/// <reference types="node" />
// The test reads the sources from disk (Node), unlike the page.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A relative import as the bundler resolves it: the file, or with .ts/.tsx, or its index. */
function resolve(from: string, spec: string): string | null {
  const base = join(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")]) {
    if (/\.tsx?$/.test(candidate) && existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * What the page loads before its first line runs: every module reachable from
 * `entry` through static imports that stay in the JavaScript. `import type` and
 * `export type … from` are erased; `import()` is a chunk of its own, loaded later.
 * An import whose names are all marked `type` inline still loads its module
 * (verbatimModuleSyntax keeps `import {} from`), so it counts.
 */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false, file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
    for (const stmt of source.statements) {
      let spec: ts.Expression | undefined;
      if (ts.isImportDeclaration(stmt) && !stmt.importClause?.isTypeOnly) spec = stmt.moduleSpecifier;
      else if (ts.isExportDeclaration(stmt) && !stmt.isTypeOnly) spec = stmt.moduleSpecifier;
      if (!spec || !ts.isStringLiteral(spec)) continue;
      if (spec.text.startsWith(".")) {
        const target = resolve(file, spec.text);
        if (target) visit(target);
      } else {
        packages.add(spec.text.startsWith("@") ? spec.text.split("/").slice(0, 2).join("/") : spec.text.split("/")[0]!);
      }
    }
  };
  visit(entry);
  return { files, packages };
}

describe("the first screen's JavaScript", () => {
  const { files, packages } = staticGraph(join(SRC, "main.tsx"));
  const rel = [...files].map((f) => relative(SRC, f));

  it("is the desktop shell, the client and its stores (the walk sees them)", () => {
    expect(rel).toEqual(expect.arrayContaining(["App.tsx", "api/client.ts", "api/stream.ts", "shell/boot.ts", "shell/Launcher.tsx", "wm/WindowLayer.tsx", "health/fetchHealth.ts"]));
    expect([...packages]).toEqual(expect.arrayContaining(["react", "react-dom", "zustand"]));
  });

  it("holds no zod: the schemas load beside the first requests (api/lazySchemas.ts)", () => {
    expect([...packages]).not.toContain("zod");
    for (const schemaModule of ["api/schemas.ts", "health/schema.ts", "blueprint/schema.ts", "shell/frameKeySchema.ts"]) expect(rel).not.toContain(schemaModule);
  });
});
