import { z } from "zod";
import { configInputSchema } from "../../src/config/schema.js";

/**
 * docs/configuration.md, written from the configuration's zod schema (its types, defaults and
 * `.describe()` texts), so the reference cannot drift from what the loader accepts: a test fails
 * when the file is not what `npm run docs:config` writes now.
 */

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  required?: string[];
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

function bounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum < SAFE_MAX) parts.push(`≤ ${s.maximum}`);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** A schema's type in a few words: `integer (≥ 0)`, `"closed" | "open"`, `list of string`. */
function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "any"}`;
  if (s.type === "object" && !s.properties && typeof s.additionalProperties === "object") {
    const key = s.propertyNames?.enum ? s.propertyNames.enum.join("/") : "name";
    return `map of ${key} → ${typeOf(s.additionalProperties)}`;
  }
  if (s.type === "object") return "object";
  if (s.type === "string" && s.format === "uri") return "URL";
  if (typeof s.type === "string") return s.type + bounds(s);
  return "any";
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return "";
  const d = s.default;
  if (d !== null && typeof d === "object" && Object.keys(d).length > 0 && !Array.isArray(d)) return "see below";
  return `\`${JSON.stringify(d)}\``;
}

/** Rows for `s` at `path`, then for what it holds: object keys, map entries (`<name>`), list items (`[]`). */
function rows(s: JsonSchema, path: string, required: boolean, out: Row[]): void {
  const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  out.push({ path, type: cell(typeOf(s)), required, default: defaultOf(s), description: cell(s.description ?? "") });
  const inner = s.anyOf?.find((o) => o.type === "object" && o.properties) ?? s;
  if (inner.properties) {
    for (const [key, child] of Object.entries(inner.properties)) rows(child, `${path}.${key}`, inner.required?.includes(key) ?? false, out);
  } else if (inner.type === "object" && typeof inner.additionalProperties === "object" && inner.additionalProperties.properties) {
    const key = inner.propertyNames?.enum ? `<${inner.propertyNames.enum.join("|")}>` : "<name>";
    rows(inner.additionalProperties, `${path}.${key}`, true, out);
  } else if (inner.type === "array" && inner.items?.properties) {
    for (const [key, child] of Object.entries(inner.items.properties)) rows(child, `${path}[].${key}`, inner.items.required?.includes(key) ?? false, out);
  }
}

const INTRO = `# Configuration reference

Written by \`npm run docs:config\` from the configuration's schema (\`src/config/\`); do not edit by
hand: a test fails when this file is not what the schema gives. \`config.yaml\` is a working example
with comments; \`tollgate check-config FILE\` validates a file and shows what it resolves to.

- Unknown keys are errors, and every problem is listed by its path.
- \`\${VAR}\` and \`\${VAR:-default}\` are read from the environment in any string. A value that is
  one reference and nothing else (\`port: "\${PORT}"\`) is a number or a boolean where the schema
  wants one.
- \`PORT\` and \`HOST\` in the environment override \`server.port\` and \`server.host\`.
- Money is USD; prices are USD per 1M tokens unless the key says otherwise.
- "required" means the key must be written when its section is; a section with a default may be
  left out whole.
`;

export function configReference(): string {
  const schema = z.toJSONSchema(configInputSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const sections = Object.entries(schema.properties ?? {}).map(([name, section]) => {
    const out: Row[] = [];
    rows(section, name, schema.required?.includes(name) ?? false, out);
    const table = out.map((r) => `| \`${r.path}\` | ${r.type} | ${r.required ? "yes" : ""} | ${r.default} | ${r.description} |`);
    return [`## ${name}`, "", "| key | type | required | default | description |", "| --- | --- | --- | --- | --- |", ...table].join("\n");
  });
  return `${INTRO}\n${sections.join("\n\n")}\n`;
}
