import { writeFileSync } from "node:fs";
import { configReference } from "./config-reference.js";

// npm run docs:config
const target = new URL("../../docs/configuration.md", import.meta.url);
writeFileSync(target, configReference());
process.stdout.write(`wrote ${target.pathname}\n`);
