import { readFileSync, writeFileSync } from "node:fs";
import { closeServices, createServices } from "../app.js";
import { configPath, loadConfigFile } from "../config/load.js";
import { RedisBudgetStore } from "../budget/redis.js";
import type { Caller } from "../caller.js";
import { Progress } from "./progress.js";
import { batchStatus, fetchBatchResults, submitBatch, type BatchState } from "./provider.js";

const USAGE = `usage:
  tollgate batch submit FILE.jsonl [--key ID] [--state FILE] [--config FILE]
  tollgate batch status [--state FILE] [--config FILE]
  tollgate batch fetch --out results.jsonl [--state FILE] [--config FILE]
The state file (default tollgate-batch.json) keeps what submit reserved, for status and fetch.
Budgets are shared through the configured store: use Redis (store.redis_url) so the holds outlive this command.`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `tollgate batch ...`: resolves to the exit code. */
export async function runBatchCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const statePath = option(rest, "--state") ?? "tollgate-batch.json";
  const { config } = loadConfigFile(configPath(rest, process.env));
  const services = createServices(config);
  const progress = new Progress(process.stderr);
  try {
    if (services.store instanceof RedisBudgetStore && !(await services.store.waitUntilReady(5000))) throw new Error("the budget store (Redis) does not answer");
    if (sub === "submit") {
      const file = rest.find((a, i) => !a.startsWith("--") && !rest[i - 1]?.startsWith("--"));
      if (!file) throw new Error("submit needs a JSONL file");
      const keyId = option(rest, "--key") ?? null;
      const key = keyId === null ? undefined : config.keys.find((k) => k.id === keyId);
      if (keyId !== null && !key) throw new Error(`no key "${keyId}" in the configuration`);
      const caller: Caller = { keyId, team: key?.team ?? null, maxTier: key?.max_tier };
      const state = await submitBatch(services, readFileSync(file, "utf8"), caller, progress);
      writeFileSync(statePath, JSON.stringify(state, null, 2));
      progress.line(`state written to ${statePath}`);
      return 0;
    }
    const state = JSON.parse(readFileSync(statePath, "utf8")) as BatchState;
    if (sub === "status") {
      for (const s of await batchStatus(services, state, progress)) progress.line(`${s.batch_id} ${s.model}: ${s.status}, ${s.completed} done, ${s.failed} failed of ${s.total}`);
      return 0;
    }
    if (sub === "fetch") {
      const out = option(rest, "--out");
      if (!out) throw new Error("fetch needs --out FILE");
      const result = await fetchBatchResults(services, state, progress);
      writeFileSync(out, result.lines.map((l) => `${l}\n`).join(""));
      progress.line(`${result.lines.length} results written to ${out}; ${result.settled} settled, ${result.released} released${result.pending.length ? `; still running: ${result.pending.join(", ")}` : ""}`);
      await services.settler.drain(10_000);
      return result.pending.length > 0 ? 3 : 0;
    }
    process.stderr.write(`${USAGE}\n`);
    return 2;
  } catch (err) {
    process.stderr.write(`tollgate batch: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await services.settler.drain(10_000);
    await closeServices(services);
  }
}
