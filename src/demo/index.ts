import { createServer } from "node:net";
import { type Config } from "../config/schema.js";
import { configSchema } from "../config/resolve.js";
import type { Logger } from "../log.js";
import { formatUsd } from "../money.js";
import { requestCost } from "../pricing/estimate.js";
import { describeModels } from "../pricing/table.js";
import { tierModels } from "../routing/tiers.js";
import { startProxy, type RunningProxy } from "../server/start.js";
import { DEMO_BUDGET, DEMO_KEYS, demoConfigInput } from "./config.js";
import { startDemoUpstream, type DemoUpstream } from "./upstream.js";

/**
 * `npm run demo` (`tollgate demo`): the proxy on 127.0.0.1:8787 in front of the demo upstream
 * (./upstream.ts), with a small budget and the cache on, and a page of things to try. Nothing
 * leaves the machine.
 *
 *   const demo = await startDemo({ port: 0 });
 *   console.log(demo.instructions);
 *   await demo.stop();
 */

export interface Demo {
  url: string;
  proxy: RunningProxy;
  upstream: DemoUpstream;
  /** What to try, with this demo's URL and keys. */
  instructions: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  /** 8787 unless given; when taken, a free port. 0 picks a free port. */
  port?: number;
  logger?: Logger;
  streamDelayMs?: number;
}

export const DEFAULT_DEMO_PORT = 8787;

function portIsFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** A terse, human log: one line per request, and every warning. */
export function demoLogger(print: (line: string) => void): Logger {
  return {
    log(level, event, fields = {}) {
      if (event === "request") {
        const f = fields as Record<string, unknown>;
        print(`  ← ${f.status} ${f.key_id ?? "-"} → ${f.tier}/${f.model} (${f.route}) ${formatUsd(Math.round(Number(f.cost_usd ?? 0) * 1e9))} ${f.usage_source}`);
      } else if (level !== "info") {
        print(`  [${level}] ${event} ${JSON.stringify(fields)}`);
      }
    },
  };
}

const curlChat = (url: string, key: string, body: object, headers: string[] = []) =>
  [
    `curl -si ${url}/v1/chat/completions`,
    `-H "authorization: Bearer ${key}"`,
    `-H "content-type: application/json"`,
    ...headers.map((h) => `-H "${h}"`),
    `-d '${JSON.stringify(body)}'`,
  ].join(" \\\n     ");

export function demoInstructions(url: string, upstreamUrl: string, config: Config, dashboard: boolean): string {
  const hello = { model: "auto", messages: [{ role: "user", content: "Say hello in French." }] };
  const premium = tierModels(config).premium[0];
  const premiumModel = premium ? config.models[premium] : undefined;
  const worst = premiumModel?.max_output_tokens !== undefined ? requestCost(premiumModel, 0, premiumModel.max_output_tokens, 1) : undefined;
  const why =
    premiumModel && worst !== undefined
      ? `premium's ${premium} may write up to ${premiumModel.max_output_tokens} tokens at $${premiumModel.price.output}/1M, a worst case of ${formatUsd(worst)}: over the ${formatUsd(DEMO_BUDGET.perRequestUsd * 1e9)} per-request limit`
      : `the premium models' worst case is over the ${formatUsd(DEMO_BUDGET.perRequestUsd * 1e9)} per-request limit`;
  const steps = [
    `1. A request. The answer's headers say what happened: x-tollgate-tier, x-tollgate-model, x-tollgate-route,
   x-tollgate-estimated-cost and x-tollgate-cost (USD), x-request-id.
   ${curlChat(url, DEMO_KEYS.demo, hello)}`,
    `2. The same, streamed:
   ${curlChat(url, DEMO_KEYS.demo, { ...hello, stream: true }).replace("curl -si", "curl -siN")}`,
    `3. From the openai SDK (npm install openai), only the base URL changes:
   import OpenAI from "openai";
   const client = new OpenAI({ baseURL: "${url}/v1", apiKey: "${DEMO_KEYS.demo}" });
   const { data, response } = await client.chat.completions
     .create({ model: "auto", messages: [{ role: "user", content: "Say hello in French." }] })
     .withResponse();
   console.log(data.choices[0].message.content, response.headers.get("x-tollgate-model"), response.headers.get("x-tollgate-cost"));`,
    `4. Downgraded by the budget: ask for premium; ${why},
   so tollgate walks down the tiers to the first model whose worst case fits (x-tollgate-route: budget-downgrade):
   ${curlChat(url, DEMO_KEYS.demo, { model: "auto", messages: [{ role: "user", content: "Prove that there are infinitely many primes." }] }, ["x-tollgate-tier: premium"])}`,
    `5. Refused by the budget: key "intern" has ${formatUsd(DEMO_BUDGET.internDailyUsd * 1e9)} a day, less than the smallest answer costs (429 budget_exceeded):
   ${curlChat(url, DEMO_KEYS.intern, hello)}`,
    `6. The cache: send a request with "temperature": 0 twice; the second is answered with x-tollgate-cache: hit and costs nothing:
   ${curlChat(url, DEMO_KEYS.demo, { ...hello, temperature: 0 })}`,
    `7. What it all cost, by model, tier, key and endpoint:
   curl -s ${url}/v1/costs -H "authorization: Bearer ${DEMO_KEYS.admin}"
   The models with their resolved prices and where each came from:
   curl -s ${url}/v1/models -H "authorization: Bearer ${DEMO_KEYS.demo}"`,
    ...(dashboard ? [`8. The dashboard: open ${url}/dashboard (admin key: ${DEMO_KEYS.admin})`] : []),
  ];
  return [
    `tollgate demo: the proxy on ${url}, in front of a built-in demo upstream on ${upstreamUrl}.`,
    `No API key is needed and nothing leaves this machine; answers are canned, usage is counted as a real upstream bills it.`,
    "",
    describeModels(config),
    "",
    `Budgets: ${formatUsd(DEMO_BUDGET.dailyUsd * 1e9)} a day in all, ${formatUsd(DEMO_BUDGET.perRequestUsd * 1e9)} per request; key "intern" ${formatUsd(DEMO_BUDGET.internDailyUsd * 1e9)} a day. Cache: on.`,
    `Keys: ${DEMO_KEYS.demo} (demo), ${DEMO_KEYS.intern} (intern), admin key ${DEMO_KEYS.admin}.`,
    "",
    "Try:",
    "",
    steps.join("\n\n"),
    "",
    "Each request is logged below. Ctrl-C stops the demo.",
  ].join("\n");
}

/** Whether the proxy serves GET /dashboard (another part of tollgate may add it). */
async function hasDashboard(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/dashboard`, { headers: { authorization: `Bearer ${DEMO_KEYS.admin}` } });
    await response.body?.cancel();
    return response.status !== 404;
  } catch {
    return false;
  }
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const wanted = options.port ?? DEFAULT_DEMO_PORT;
  const port = (await portIsFree(wanted)) ? wanted : 0;
  const upstream = await startDemoUpstream({ streamDelayMs: options.streamDelayMs });
  let proxy: RunningProxy;
  try {
    proxy = await startProxy(configSchema.parse(demoConfigInput(upstream.baseUrl, port)), options.logger ? { logger: options.logger } : {});
  } catch (err) {
    await upstream.close();
    throw err;
  }
  const dashboard = await hasDashboard(proxy.url);
  return {
    url: proxy.url,
    proxy,
    upstream,
    instructions: demoInstructions(proxy.url, upstream.baseUrl, proxy.services.config, dashboard),
    stop: async () => {
      await proxy.shutdown();
      await upstream.close();
    },
  };
}

/** `tollgate demo [--port N]`: runs until SIGINT or SIGTERM. */
export async function runDemo(argv: string[]): Promise<undefined> {
  const flag = argv.indexOf("--port");
  const port = flag >= 0 ? Number(argv[flag + 1]) : DEFAULT_DEMO_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not "${argv[flag + 1]}"`);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const demo = await startDemo({ port, logger: demoLogger(print), streamDelayMs: 15 });
  if (port !== 0 && !demo.url.endsWith(`:${port}`)) print(`(port ${port} is taken: the demo uses another one)\n`);
  print(demo.instructions);
  const stop = () => {
    demo.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return undefined;
}
