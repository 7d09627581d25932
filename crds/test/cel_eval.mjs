// Evaluates CRD x-kubernetes-validations rules the way the API server binds
// them: `self` is the value at the rule's schema node. Objects become CEL maps
// (field selection and has() behave as on Kubernetes objects), integers become
// CEL ints. Reads [{rule, messageExpression?, self}] as JSON on stdin, writes
// [{value} | {error}] as JSON on stdout. Needs @bufbuild/cel (see test_crds.py).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.USP_CEL_MODULES + "/");
const { run } = require("@bufbuild/cel");

function toCel(v) {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") {
    return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  }
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return v;
}

function evaluate(expr, self) {
  try {
    const value = run(expr, { self: toCel(self) });
    // Rules yield booleans and message expressions strings; anything else is
    // reported as text so the caller sees a wrong rule instead of a crash.
    if (value instanceof Error) return { error: value.message };
    if (typeof value === "boolean" || typeof value === "string") return { value };
    return { value: `non-boolean result: ${String(value)}` };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map((c) => {
  const r = evaluate(c.rule, c.self);
  if (c.messageExpression && r.value === false) {
    r.message = evaluate(c.messageExpression, c.self);
  }
  return r;
});
process.stdout.write(JSON.stringify(out));
