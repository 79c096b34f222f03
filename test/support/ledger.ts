import { onTestFinished } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startTestProxy, testConfig, type TestProxy } from "./proxy.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "./postgres.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "./redis.js";

export const LEDGER_ADMIN = "sk-ledger-admin";
export const LEDGER_KEYS = { app: "sk-ledger-app", ci: "sk-ledger-ci" } as const;
/** 2026-06-15 12:00 UTC: every request of these tests falls on that budget day. */
export const LEDGER_T0 = Date.UTC(2026, 5, 15, 12);

export interface LedgerProxy {
  proxy: TestProxy;
  clock: ManualClock;
  schema: string;
  prefix: string;
  /** GET on the proxy with the admin key. */
  admin(path: string, key?: string): Promise<Response>;
  /** One chat completion with key `key` on `model`. */
  ask(key: keyof typeof LEDGER_KEYS, model?: string): Promise<unknown>;
  /** Rows in this test's ledger. */
  rows(): Promise<Array<{ request_id: string }>>;
}

/** The ledger settings of a test: its own schema on `url`, a short poll. */
export function ledgerSettings(schema: string, url = postgresUrl(), extra: Record<string, unknown> = {}) {
  return { postgres_url: url, schema, poll_ms: 50, claim_idle_ms: 1000, ...extra };
}

/**
 * A proxy with a ledger in a schema of this test's own (and, with Redis, a key prefix of its own),
 * on a manual clock; everything is stopped and dropped when the test ends.
 */
export async function startLedgerProxy(
  upstreamUrl: string,
  options: { store?: "redis" | "memory"; postgresUrl?: string; ledger?: boolean; prefix?: string; schema?: string; overrides?: Record<string, unknown> } = {},
): Promise<LedgerProxy> {
  const schema = options.schema ?? uniqueSchema();
  const prefix = options.prefix ?? uniquePrefix();
  const url = options.postgresUrl ?? postgresUrl();
  const clock = new ManualClock(LEDGER_T0);
  const config = testConfig(upstreamUrl, {
    store: options.store === "memory" ? {} : { redis_url: redisUrl(), key_prefix: prefix },
    keys: [
      { id: "app", key: LEDGER_KEYS.app, team: "research" },
      { id: "ci", key: LEDGER_KEYS.ci },
    ],
    admin_key: LEDGER_ADMIN,
    // The model asked for is the model used, so each test knows which tier and price a request lands on.
    routing: { client_model: "pin" },
    ...(options.ledger === false ? {} : { ledger: ledgerSettings(schema, url) }),
    ...options.overrides,
  });
  const proxy = await startTestProxy(config, { clock });
  onTestFinished(async () => {
    await proxy.shutdown();
    if (!options.prefix) await cleanPrefix(prefix);
    if (!options.schema && options.ledger !== false) await dropSchema(url, schema);
  });
  return {
    proxy,
    clock,
    schema,
    prefix,
    admin: (path, key = LEDGER_ADMIN) => fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${key}` } }),
    ask: (key, model = "gpt-4o-mini") =>
      proxy.client(LEDGER_KEYS[key]).chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 100 }),
    rows: () => sql<{ request_id: string }>(url, schema, "SELECT request_id FROM usage_records ORDER BY request_id"),
  };
}
