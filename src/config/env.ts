import type { z } from "zod";

/**
 * What the environment gives the configuration: `${VAR}` and `${VAR:-default}` in any string, a
 * whole-value reference typed as the schema wants it (`port: "${PORT}"` is a number), and `PORT`
 * and `HOST` over `server.port` and `server.host`, as platforms that assign the port expect.
 */

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** A value that is one reference and nothing else: its text may stand for a number or a boolean. */
const WHOLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed document. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = [], missing: string[] = [], whole: string[][] = []): unknown {
  if (typeof value === "string") {
    if (WHOLE.test(value)) whole.push(path);
    return value.replace(VAR, (_whole, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      missing.push(`${path.join(".")}: environment variable ${name} is not set`);
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, [...path, String(i)], missing, whole));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, [...path, k], missing, whole);
    return out;
  }
  return value;
}

/** The text of a variable as the type the schema expected there; undefined when it is not one. */
function typed(text: string, expected: string): number | boolean | undefined {
  if (expected === "number" && /^-?\d+(\.\d+)?$/.test(text.trim())) return Number(text);
  if (expected === "boolean" && /^(true|false)$/i.test(text.trim())) return text.trim().toLowerCase() === "true";
  return undefined;
}

function setAt(document: unknown, path: PropertyKey[], value: unknown): void {
  let node = document as Record<PropertyKey, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<PropertyKey, unknown>;
  node[path[path.length - 1]!] = value;
}

function getAt(document: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], document);
}

/**
 * Validates `document`, first turning each whole `${VAR}` value whose place wants a number or a
 * boolean into one: the schema decides, so a secret made of digits stays a string where a string
 * is wanted. Only the places the environment filled are ever retyped.
 */
export function parseWithEnvTypes<S extends z.ZodType>(schema: S, document: unknown, whole: string[][]): ReturnType<S["safeParse"]> {
  const filled = new Set(whole.map((p) => p.join(".")));
  let result = schema.safeParse(document);
  // Each pass fixes the places the last one named; a union may name a place again, at most once per place.
  for (let pass = 0; pass <= filled.size && !result.success; pass++) {
    let changed = false;
    for (const issue of result.error.issues) {
      if (!filled.has(issue.path.map(String).join("."))) continue;
      // A union (`output_estimate: half_input | number`) refused the text as it is: a number or a boolean may fit.
      const expected = issue.code === "invalid_type" ? [issue.expected] : issue.code === "invalid_union" ? ["number", "boolean"] : [];
      const current = getAt(document, issue.path);
      const value = typeof current === "string" ? expected.map((type) => typed(current, type)).find((v) => v !== undefined) : undefined;
      if (value === undefined) continue;
      setAt(document, issue.path, value);
      changed = true;
    }
    if (!changed) break;
    result = schema.safeParse(document);
  }
  return result as ReturnType<S["safeParse"]>;
}

/** `PORT` and `HOST` from the environment, over the file's `server.port` and `server.host`; a bad PORT is named. */
export function serverOverrides(document: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const server = (document.server ??= {}) as Record<string, unknown>;
  if (typeof server !== "object" || server === null) return problems;
  if (env.PORT !== undefined && env.PORT !== "") {
    const port = Number(env.PORT);
    if (!/^\d+$/.test(env.PORT) || port > 65535) problems.push(`PORT: "${env.PORT}" is not a port number (0-65535)`);
    else server.port = port;
  }
  if (env.HOST !== undefined && env.HOST !== "") server.host = env.HOST;
  return problems;
}
