/**
 * tollgate's architecture, checked on every `npm test` (`npm run layers`). From the bottom up:
 *
 *   foundation  src/clock.ts, errors.ts, log.ts, money.ts, metrics.ts, caller.ts: values every layer shares
 *   config      src/config/: the file's schema and its resolution (prices from the catalogue)
 *   steps       one folder per step of the pipeline (request, routing, plan, tokens, pricing, budget,
 *               cache, upstream, usage, optimize, endpoints, translate, gate, keys, ledger, batch, telemetry): each takes the narrow
 *               interface it uses, never the services bag
 *   server      src/server/ (routes, auth, the exchange), src/app.ts and src/services.ts: sequence the steps
 *   commands    src/main.ts, src/cli.ts, src/demo/, src/batch/cli.ts: what a user runs
 *   tools/      offline programs (router training and evaluation), never imported by src/
 *
 * An arrow may only point down. Tests may import anything.
 */
const STEPS = "^src/(budget|cache|endpoints|gate|keys|ledger|optimize|plan|pricing|request|routing|telemetry|tokens|translate|upstream|usage|batch)/";
const SERVER = "^src/(server/|app\\.ts$|services\\.ts$)";
const COMMANDS = "^src/(main\\.ts$|cli\\.ts$|demo/|batch/cli\\.ts$)";
const FOUNDATION = "^src/(clock|errors|log|money|metrics|caller)\\.ts$";

module.exports = {
  forbidden: [
    { name: "no-circular", comment: "A cycle makes two modules one: split out what both need.", severity: "error", from: { path: "^src/" }, to: { circular: true } },
    {
      name: "foundation-stays-below",
      comment: "Shared values know nothing of the pipeline (the caller's tier type comes from config).",
      severity: "error",
      from: { path: FOUNDATION },
      to: { path: [STEPS, SERVER, COMMANDS] },
    },
    {
      name: "config-below-the-steps",
      comment: "The configuration reads only the endpoint classes (their names) and the price catalogue.",
      severity: "error",
      from: { path: "^src/config/" },
      to: { path: [STEPS, SERVER, COMMANDS], pathNot: "^src/(gate/classes|pricing/catalogue)\\.ts$" },
    },
    {
      name: "steps-never-reach-the-server",
      comment: "A step takes the narrow interface it uses; the server passes its services down, never the other way.",
      severity: "error",
      from: { path: STEPS, pathNot: COMMANDS },
      to: { path: [SERVER, COMMANDS] },
    },
    {
      name: "server-never-imports-commands",
      severity: "error",
      from: { path: SERVER },
      to: { path: COMMANDS },
    },
    { name: "src-never-imports-tools", comment: "Offline programs live in tools/ and use src/, not the reverse.", severity: "error", from: { path: "^src/" }, to: { path: "^tools/" } },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.test\\.ts$" },
  },
};
