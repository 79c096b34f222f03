import { createServer } from "node:net";
import { Redis, type RedisOptions } from "ioredis";

/** A loopback port that was free a moment ago (nothing listens on it when this returns). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** True when a Redis at `url` answers PING. */
export async function redisAnswers(url: string, options: RedisOptions = {}): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, ...options });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Waits until a Redis at `url` answers, or throws after `timeoutMs`. */
export async function waitForRedis(url: string, timeoutMs: number, options: RedisOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await redisAnswers(url, options)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server at ${url} did not answer within ${timeoutMs} ms`);
}
