#!/usr/bin/env node
// Syntax-check LogQL expressions with Grafana's lezer LogQL grammar (used by `obsgen check`).
//
// Usage:  echo '["{app=\"x\"} |= \"foo\"", "rate({app=\"x\"}[5m]) >"]' \
//           | node obsgen/logql_check.mjs [NODE_MODULES]
// stdin:  a JSON array of LogQL expression strings.
// stdout: a JSON array, same order: [{"expr": ..., "ok": true|false, "kind": ..., "error": ...}]
//         ("kind" is "metric" or "log" when ok is true: what the expression returns, samples or log
//         lines; "error" is present only when ok is false, e.g.
//          "syntax error at position 12 (line 1, col 13) near \"[5m]\"").
// Exit:   0 when the input was read and checked (whatever the verdicts),
//         2 on bad input, 3 when the parser is not installed (run `make tools`).
//
// The parser is loaded from NODE_MODULES, else $OBSGEN_NODE_MODULES, else the checkout's
// .tools/node_modules (installed by scripts/install-tools.sh). It is imported by its file path, so its
// own imports (@lezer/lr) resolve from that node_modules, wherever this script is.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = resolve(process.argv[2] || process.env.OBSGEN_NODE_MODULES ||
  join(here, "..", ".tools", "node_modules"));
const modDir = join(nodeModules, "@grafana", "lezer-logql");

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
  if (errPos < 0) {
    const top = tree.topNode.firstChild;  // LogQL > Expr > MetricExpr | LogExpr
    return { expr, ok: true, kind: top?.firstChild?.name === "LogExpr" ? "log" : "metric" };
  }
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
