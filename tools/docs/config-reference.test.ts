import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configReference } from "./config-reference.js";

describe("docs/configuration.md", () => {
  it("is what `npm run docs:config` writes from the schema now", () => {
    const onDisk = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    expect(onDisk, "docs/configuration.md is out of date: run npm run docs:config").toBe(configReference());
  });

  it("documents every section and the keys operators set most, with their defaults", () => {
    const text = configReference();
    for (const section of ["server", "store", "upstreams", "models", "tiers", "routing", "budgets", "keys", "ledger"]) expect(text).toContain(`\n## ${section}\n`);
    expect(text).toMatch(/^\| `server\.port` \| integer \(≥ 0, ≤ 65535\) \| {2}\| `8787` \| The port to listen on .*`PORT`/m);
    expect(text).toMatch(/^\| `store\.on_error` \| "closed" \\\| "open" \| {2}\| `"closed"` \|/m);
    expect(text).toMatch(/^\| `models\.<name>\.price\.input` \| number \(≥ 0\) \| yes \| {2}\| Input tokens, USD per 1M\. \|$/m);
    expect(text).toMatch(/^\| `keys\[\]\.id` \| string \| yes \|/m);
  });
});
