import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** The Redis the tests use: REDIS_URL, else the one globalSetup found or started. */
export function redisUrl(): string {
  const url = process.env.REDIS_URL ?? inject("redisUrl");
  if (!url) throw new Error("no Redis for the tests: set REDIS_URL or run through vitest (globalSetup finds or starts one)");
  return url;
}

/** A key prefix of this test's own, so tests never see each other's keys. */
export function uniquePrefix(): string {
  return `tgtest:${randomUUID().slice(0, 8)}:`;
}

/** Deletes the keys under `prefix`, and only those. */
export async function cleanPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl(), { lazyConnect: false });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
