#!/usr/bin/env node
// Syntax-check LogQL expressions with Grafana's lezer LogQL grammar.
//
// Usage:  echo '["{app=\"x\"} |= \"foo\"", "rate({app=\"x\"}[5m]) >"]' \
//           | node scripts/logql_check.mjs
// stdin:  a JSON array of LogQL expression strings.
// stdout: a JSON array, same order: [{"expr": ..., "ok": true|false, "error": ...}]
//         ("error" is present only when ok is false, e.g.
//          "syntax error at position 12 (line 1, col 13) near \"[5m]\"").
// Exit:   0 when the input was read and checked (whatever the verdicts),
//         2 on bad input, 3 when the parser is not installed (run `make tools`).
//
// The parser lives in ../.tools/node_modules (installed by scripts/install-tools.sh).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modDir = join(here, "..", ".tools", "node_modules", "@grafana", "lezer-logql");

let parser;
try {
  const pkg = JSON.parse(readFileSync(join(modDir, "package.json"), "utf8"));
  const entry = pkg.module || "index.es.js";
  ({ parser } = await import(pathToFileURL(join(modDir, entry)).href));
  if (!parser) throw new Error("module exports no `parser`");
} catch (e) {
  process.stderr.write(`logql_check: cannot load @grafana/lezer-logql from ${modDir}: ${e.message}\n` +
    "run scripts/install-tools.sh (make tools) first\n");
  process.exit(3);
}

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const col = pos - (before.lastIndexOf("\n") + 1) + 1;
  return { line, col };
}

function check(expr) {
  if (typeof expr !== "string") return { expr, ok: false, error: "not a string" };
  if (expr.trim() === "") return { expr, ok: false, error: "empty expression at position 0" };
  const tree = parser.parse(expr);
  let errPos = -1;
  tree.iterate({
    enter(node) {
      if (errPos >= 0) return false;
      if (node.type.isError) { errPos = node.from; return false; }
    },
  });
  if (errPos < 0) return { expr, ok: true };
  const { line, col } = lineCol(expr, errPos);
  const near = errPos >= expr.length ? "end of input" : JSON.stringify(expr.slice(errPos, errPos + 20));
  return { expr, ok: false, error: `syntax error at position ${errPos} (line ${line}, col ${col}) near ${near}` };
}

let input;
try {
  input = JSON.parse(readFileSync(0, "utf8"));
  if (!Array.isArray(input)) throw new Error("expected a JSON array of strings");
} catch (e) {
  process.stderr.write(`logql_check: bad input: ${e.message}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(input.map(check)) + "\n");
