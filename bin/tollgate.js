#!/usr/bin/env node
// The installed `tollgate` command: the compiled build in dist/, plain node, no TypeScript loader.
// A checkout makes dist/ with `npm run build`; a packed package (npm pack) carries it.
import { existsSync } from "node:fs";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("tollgate: dist/ is missing. Run `npm run build` in the tollgate directory first.\n");
  process.exit(1);
}
await import(main.href);
