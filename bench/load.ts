import autocannon from "autocannon";
import { Agent, request } from "undici";

/** Load generation and measurement helpers: autocannon runs, streaming TTFB, /metrics scrapes. */

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  /** Seconds to run; or `amount` requests. */
  duration?: number;
  amount?: number;
  /** A fixed rate (requests/s over all connections) instead of as fast as the server answers. */
  rate?: number;
}

/** Percentile of sorted values, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * One autocannon run. Latencies are taken from each response's own (sub-millisecond) timing,
 * since autocannon's summary histogram rounds to whole milliseconds.
 */
export async function drive(options: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let lastResponse = 0;
  const started = performance.now();
  const instance = autocannon({
    url: `${options.url}/v1/chat/completions`,
    method: "POST",
    headers: { "content-type": "application/json", ...options.headers },
    body: options.body,
    connections: options.connections,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.duration ?? 10 }),
    timeout: 30,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status < 200 || status >= 300) return;
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
    lastResponse = performance.now();
  });
  const result = await instance;
  const sorted = latencies.subarray(0, count).sort();
  // autocannon stops on its one-second tick, so its own duration overstates a run of `amount` requests.
  const seconds = (lastResponse - started) / 1000;
  return {
    requests: count,
    seconds,
    rps: count / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const newAgent = () => new Agent({ connections: 64, keepAliveTimeout: 60_000, pipelining: 1 });

/** Keep-alive connections for the measurements made one request at a time. */
let agent = newAgent();

/** Drops the connections to a server that is going away. */
export async function resetConnections(): Promise<void> {
  const old = agent;
  agent = newAgent();
  await old.close().catch(() => {});
}

export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    dispatcher: agent,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

/** Posts `body` `times` times, `concurrency` at a time; throws on any non-2xx answer. */
export async function postMany(url: string, body: string, headers: Record<string, string>, times: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < times) {
      next++;
      const { status, text } = await post(url, body, headers);
      if (status !== 200) throw new Error(`${url} answered ${status}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Time from sending a streaming request to the first byte of its body, one request at a time.
 * Returns sorted milliseconds.
 */
export async function streamingTtfb(url: string, body: string, headers: Record<string, string>, times: number): Promise<Float64Array> {
  const out = new Float64Array(times);
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const res = await request(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      dispatcher: agent,
    });
    let first = 0;
    let text = "";
    for await (const chunk of res.body) {
      if (first === 0) first = performance.now();
      text += (chunk as Buffer).toString();
    }
    if (res.statusCode !== 200 || !text.includes("[DONE]")) throw new Error(`${url}: streaming answer ${res.statusCode}: ${text.slice(0, 300)}`);
    out[i] = first - started;
  }
  return out.sort();
}

/** Unlabelled samples of a Prometheus text exposition (labelled ones are skipped). */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const res = await request(`${url}/metrics`, { dispatcher: agent, headers });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}/metrics answered ${res.statusCode}`);
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.includes("{")) continue;
    const space = line.lastIndexOf(" ");
    if (space > 0) values[line.slice(0, space)] = Number(line.slice(space + 1));
  }
  return values;
}

/** Milliseconds from sending to the last byte of `times` non-streamed requests, one at a time on one connection. */
export async function sequentialLatency(url: string, body: string, headers: Record<string, string>, times: number): Promise<Float64Array> {
  const out = new Float64Array(times);
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const res = await request(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body, dispatcher: agent });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${url}: answer ${res.statusCode}: ${text.slice(0, 300)}`);
    out[i] = performance.now() - started;
  }
  return out.sort();
}
