import { drive, percentile, post, postMany, scrape, sequentialLatency, streamingTtfb, type LoadResult } from "./load.js";
import { collectGarbage } from "./inspector.js";
import { conversation, largePrompt, manyParts, ONE_MESSAGE_BODY, prose, SMALL_BODY, STREAM_BODY } from "./workload.js";

/** The measurements made on one target, in the order they run. */

export interface Plan {
  connections: number;
  warmupSeconds: number;
  throughputSeconds: number;
  ttfbRequests: number;
  conversationTurns: number;
  conversationBytes: number;
  conversationRepeats: number;
  largeBytes: number;
  largeSeconds: number;
  /** Small requests per second beside the 1 MB prompts. */
  largeSmallRate: number;
  manyParts: number;
  pairedRounds: number;
  pairedSeconds: number;
  pairedLatencyRequests: number;
  memoryWarmup: number;
  memoryRequests: number;
}

export interface ThroughputResult extends LoadResult {
  /** Requests the warm-up served before this run. */
  servedBefore?: number;
  /** Process CPU per request during the run, µs. */
  cpuUs?: number;
  /** Event-loop delay p99 during the run, ms. */
  eventLoopP99?: number;
  /** RSS at the end of the run, MB. */
  rssMb?: number;
}

export interface ConversationResult {
  lastTurnBytes: number;
  oneMessageCpuUs: number;
  lastTurnCpuUs: number;
}

export interface LargeResult {
  largeRequests: number;
  largeMedianMs: number;
  small: LoadResult;
  eventLoopP99: number;
  eventLoopMax: number;
}

export interface MemoryResult {
  requests: number;
  rps: number;
  /** As read, wherever the heap was in its cycle of growth and collection. */
  rawRssAfterWarmupMb: number;
  rawRssEndMb: number;
  /** Highest RSS seen (sampled every 2 s) in the run. */
  peakRssMb: number;
  /** After a full garbage collection (through the inspector). */
  rssAfterWarmupMb: number;
  rssEndMb: number;
  heapAfterWarmupMb: number;
  heapEndMb: number;
}

export interface TargetResult {
  name: string;
  throughput: ThroughputResult;
  /** Streaming time to first byte, and a whole non-streamed answer, one request at a time. */
  ttfb: { p50: number; p99: number; plainP50: number; plainP99: number };
  conversation?: ConversationResult;
  large?: LargeResult;
  /** The same beside requests of `manyParts` text parts. */
  parts?: LargeResult;
  memory?: MemoryResult;
}

export interface TargetUnderTest {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** Whether it serves /metrics (the upstream does not). */
  metrics: boolean;
  /** Sent with /metrics scrapes (tollgate with client keys wants its admin key there). */
  adminHeaders: Record<string, string>;
  /** Its inspector port (for a full garbage collection before memory is read), when started with one. */
  inspectPort?: number;
  /** A shorter throughput run than the plan's (for servers measured for reference only). */
  throughputSeconds?: number;
  memory: boolean;
}

const MB = 1024 * 1024;

function log(target: string, message: string): void {
  process.stderr.write(`[bench] ${target}: ${message}\n`);
}

function check(result: LoadResult, what: string): void {
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`${what}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
}

async function measureThroughput(t: TargetUnderTest, plan: Plan): Promise<ThroughputResult> {
  const load = { url: t.url, body: SMALL_BODY, headers: t.headers, connections: plan.connections };
  const warmup = await drive({ ...load, duration: plan.warmupSeconds });
  check(warmup, `${t.name} warm-up`);
  const before = t.metrics ? await scrape(t.url, t.adminHeaders) : undefined;
  const result: ThroughputResult = await drive({ ...load, duration: t.throughputSeconds ?? plan.throughputSeconds });
  result.servedBefore = warmup.requests;
  check(result, `${t.name} throughput`);
  if (before) {
    const after = await scrape(t.url, t.adminHeaders);
    result.cpuUs = ((after.process_cpu_seconds_total! - before.process_cpu_seconds_total!) * 1e6) / result.requests;
    result.eventLoopP99 = after.nodejs_eventloop_lag_p99_seconds! * 1000;
    result.rssMb = after.process_resident_memory_bytes! / MB;
  }
  log(t.name, `throughput ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, CPU ${result.cpuUs?.toFixed(0) ?? "?"} µs/request`);
  return result;
}

/**
 * RSS after warm-up and after the long run, each read right after a full garbage collection (V8
 * grows its heap for a while before collecting; read at a random point RSS says where the heap was
 * in that cycle, not whether memory is held). The raw readings are kept too.
 */
async function measureMemory(t: TargetUnderTest, plan: Plan, servedBefore: number): Promise<MemoryResult> {
  const load = { url: t.url, body: SMALL_BODY, headers: t.headers, connections: plan.connections };
  // The throughput phase's requests count towards the warm-up (the same small requests at the same load).
  const warmup = plan.memoryWarmup - servedBefore;
  if (warmup > 0) check(await drive({ ...load, amount: Math.max(warmup, plan.connections) }), `${t.name} memory warm-up`);
  const settled = async () => {
    const raw = await scrape(t.url, t.adminHeaders);
    if (t.inspectPort !== undefined) await collectGarbage(t.inspectPort);
    return { raw, collected: await scrape(t.url, t.adminHeaders) };
  };
  const warm = await settled();
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, (await scrape(t.url, t.adminHeaders)).process_resident_memory_bytes! / MB);
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  const run = await drive({ ...load, amount: plan.memoryRequests }).finally(() => (running = false));
  await sampler;
  check(run, `${t.name} memory run`);
  const { requests, seconds } = run;
  const end = await settled();
  const result = {
    requests,
    rps: requests / seconds,
    rawRssAfterWarmupMb: warm.raw.process_resident_memory_bytes! / MB,
    rawRssEndMb: end.raw.process_resident_memory_bytes! / MB,
    peakRssMb: peak,
    rssAfterWarmupMb: warm.collected.process_resident_memory_bytes! / MB,
    rssEndMb: end.collected.process_resident_memory_bytes! / MB,
    heapAfterWarmupMb: warm.collected.nodejs_heap_size_used_bytes! / MB,
    heapEndMb: end.collected.nodejs_heap_size_used_bytes! / MB,
  };
  log(
    t.name,
    `memory: RSS ${result.rssAfterWarmupMb.toFixed(1)} MB after warm-up, ${result.rssEndMb.toFixed(1)} MB after ${requests} requests ` +
      `(after a full GC; raw ${result.rawRssAfterWarmupMb.toFixed(1)} → ${result.rawRssEndMb.toFixed(1)} MB, peak ${peak.toFixed(1)} MB)`,
  );
  return result;
}

async function measureTtfb(t: TargetUnderTest, plan: Plan): Promise<{ p50: number; p99: number; plainP50: number; plainP99: number }> {
  await streamingTtfb(t.url, STREAM_BODY, t.headers, 20);
  const sorted = await streamingTtfb(t.url, STREAM_BODY, t.headers, plan.ttfbRequests);
  await sequentialLatency(t.url, SMALL_BODY, t.headers, 20);
  const plain = await sequentialLatency(t.url, SMALL_BODY, t.headers, plan.ttfbRequests);
  const out = { p50: percentile(sorted, 50), p99: percentile(sorted, 99), plainP50: percentile(plain, 50), plainP99: percentile(plain, 99) };
  log(t.name, `streaming TTFB p50 ${out.p50.toFixed(2)} ms, p99 ${out.p99.toFixed(2)} ms; one at a time p50 ${out.plainP50.toFixed(2)} ms`);
  return out;
}

/** CPU the server spends answering one /metrics scrape, so blocks between two scrapes can leave it out. */
async function scrapeCpuUs(t: TargetUnderTest): Promise<number> {
  let total = 0;
  let previous = await scrape(t.url, t.adminHeaders);
  for (let i = 0; i < 5; i++) {
    const next = await scrape(t.url, t.adminHeaders);
    total += (next.process_cpu_seconds_total! - previous.process_cpu_seconds_total!) * 1e6;
    previous = next;
  }
  return total / 5;
}

async function cpuOf(t: TargetUnderTest, body: string, times: number, scrapeCost: number): Promise<number> {
  const before = await scrape(t.url, t.adminHeaders);
  await postMany(t.url, body, t.headers, times, 4);
  const after = await scrape(t.url, t.adminHeaders);
  return ((after.process_cpu_seconds_total! - before.process_cpu_seconds_total!) * 1e6 - scrapeCost) / times;
}

/** Turn by turn as a chat client sends it, then CPU of the last turn against a one-message request. */
async function measureConversation(t: TargetUnderTest, plan: Plan): Promise<ConversationResult> {
  const chat = conversation(plan.conversationTurns, plan.conversationBytes);
  for (let k = 1; k <= plan.conversationTurns; k++) {
    const { status, text } = await post(t.url, chat.turnRequest(k), t.headers);
    if (status !== 200) throw new Error(`${t.name} turn ${k}: ${status} ${text.slice(0, 300)}`);
  }
  const last = chat.turnRequest(plan.conversationTurns);
  await postMany(t.url, ONE_MESSAGE_BODY, t.headers, 100, 4);
  await postMany(t.url, last, t.headers, 50, 4);
  // Alternating blocks, so a change in the machine's load during the phase weighs on both alike.
  const rounds = 4;
  const scrapeCost = await scrapeCpuUs(t);
  let oneMessageCpuUs = 0;
  let lastTurnCpuUs = 0;
  for (let r = 0; r < rounds; r++) {
    oneMessageCpuUs += (await cpuOf(t, ONE_MESSAGE_BODY, plan.conversationRepeats / rounds, scrapeCost)) / rounds;
    lastTurnCpuUs += (await cpuOf(t, last, plan.conversationRepeats / rounds, scrapeCost)) / rounds;
  }
  log(t.name, `conversation: ${oneMessageCpuUs.toFixed(0)} µs one message, ${lastTurnCpuUs.toFixed(0)} µs last turn (${(last.length / 1024).toFixed(0)} KB)`);
  return { lastTurnBytes: Buffer.byteLength(last), oneMessageCpuUs, lastTurnCpuUs };
}

/**
 * Small requests at a steady rate while 1 MB prompts (each a new text) go through one after another.
 * The rate is well under every server's capacity: at full load a turn of the event loop lasts as
 * long as the requests queued for it take, and the delay would measure the load, not the prompt.
 * prom-client resets its event-loop histogram at every scrape, so the scrape before the phase
 * starts a window and the one after reads this phase alone.
 */
async function measureLarge(t: TargetUnderTest, plan: Plan): Promise<LargeResult> {
  const base = prose(plan.largeBytes, 7);
  const result = await measureBeside(t, plan, (i) => largePrompt(base, i), [200]);
  log(t.name, `1 MB prompts: ${result.largeRequests} sent, event-loop delay p99 ${result.eventLoopP99.toFixed(1)} ms, max ${result.eventLoopMax.toFixed(1)} ms`);
  return result;
}

/**
 * The same with requests of 200,000 text parts (5.6 MB) instead: tollgate refuses them (400,
 * `server.max_parts`), the pass-through forwards them; what counts is how long either holds its
 * event loop meanwhile.
 */
async function measureParts(t: TargetUnderTest, plan: Plan): Promise<LargeResult> {
  const result = await measureBeside(t, plan, (i) => manyParts(plan.manyParts, i), [200, 400]);
  log(t.name, `${plan.manyParts}-part requests: ${result.largeRequests} sent, event-loop delay p99 ${result.eventLoopP99.toFixed(1)} ms, max ${result.eventLoopMax.toFixed(1)} ms`);
  return result;
}

/** Small requests at a steady rate while big requests go one after another; `accepted` are the big ones' expected statuses. */
async function measureBeside(t: TargetUnderTest, plan: Plan, big: (i: number) => string, accepted: number[]): Promise<LargeResult> {
  const warmup = await post(t.url, big(-1), t.headers);
  if (!accepted.includes(warmup.status)) throw new Error(`${t.name} big request: ${warmup.status} ${warmup.text.slice(0, 300)}`);
  await scrape(t.url, t.adminHeaders);
  let running = true;
  const durations: number[] = [];
  const small = drive({ url: t.url, body: SMALL_BODY, headers: t.headers, connections: plan.connections, duration: plan.largeSeconds, rate: plan.largeSmallRate }).finally(() => {
    running = false;
  });
  const large = (async () => {
    for (let i = 0; running; i++) {
      const started = performance.now();
      const { status, text } = await post(t.url, big(i), t.headers);
      if (!accepted.includes(status)) throw new Error(`${t.name} big request: ${status} ${text.slice(0, 300)}`);
      durations.push(performance.now() - started);
    }
  })();
  const [smallResult] = await Promise.all([small, large]);
  check(smallResult, `${t.name} small requests beside big ones`);
  const after = await scrape(t.url, t.adminHeaders);
  durations.sort((a, b) => a - b);
  return {
    largeRequests: durations.length,
    largeMedianMs: percentile(durations, 50),
    small: smallResult,
    eventLoopP99: after.nodejs_eventloop_lag_p99_seconds! * 1000,
    eventLoopMax: after.nodejs_eventloop_lag_max_seconds! * 1000,
  };
}

/** `paired` runs after the others, with every server at once (run.ts). */
export type Phase = "throughput" | "memory" | "ttfb" | "conversation" | "large" | "parts" | "paired";
export const PHASES: Phase[] = ["throughput", "memory", "ttfb", "conversation", "large", "parts", "paired"];

export async function measureTarget(t: TargetUnderTest, plan: Plan, phases: Phase[] = PHASES): Promise<TargetResult> {
  const on = (p: Phase) => phases.includes(p);
  const none: ThroughputResult = { requests: 0, seconds: 0, rps: NaN, p50: NaN, p99: NaN, errors: 0, non2xx: 0 };
  const throughput = on("throughput") ? await measureThroughput(t, plan) : none;
  const served = (throughput.servedBefore ?? 0) + throughput.requests;
  const memory = t.memory && on("memory") ? await measureMemory(t, plan, served) : undefined;
  const ttfb = on("ttfb") ? await measureTtfb(t, plan) : { p50: NaN, p99: NaN, plainP50: NaN, plainP99: NaN };
  const conv = t.metrics && on("conversation") ? await measureConversation(t, plan) : undefined;
  const large = t.metrics && on("large") ? await measureLarge(t, plan) : undefined;
  const parts = t.metrics && on("parts") ? await measureParts(t, plan) : undefined;
  return { name: t.name, throughput, ttfb, conversation: conv, large, parts, memory };
}

/** One round of the paired phase: each server's throughput and one-at-a-time medians, measured back to back. */
export interface PairedRound {
  order: string[];
  rps: Record<string, number>;
  ttfbP50: Record<string, number>;
  plainP50: Record<string, number>;
}

/**
 * The servers measured in rounds, one after another within a round (the order turned each round),
 * every server running throughout: a ratio taken within one round compares servers on the machine
 * as it was in those seconds, which a run of minutes on a shared machine does not.
 */
export async function measurePaired(targets: TargetUnderTest[], plan: Plan): Promise<PairedRound[]> {
  for (const t of targets) {
    check(await drive({ url: t.url, body: SMALL_BODY, headers: t.headers, connections: plan.connections, duration: 2 }), `${t.name} paired warm-up`);
    await streamingTtfb(t.url, STREAM_BODY, t.headers, 20);
    await sequentialLatency(t.url, SMALL_BODY, t.headers, 20);
  }
  const rounds: PairedRound[] = [];
  for (let r = 0; r < plan.pairedRounds; r++) {
    // The order turns each round, and runs backwards every other one.
    const turned = targets.map((_, i) => targets[(i + r) % targets.length]!);
    const order = r % 2 === 0 ? turned : turned.reverse();
    const round: PairedRound = { order: order.map((t) => t.name), rps: {}, ttfbP50: {}, plainP50: {} };
    for (const t of order) {
      const load = { url: t.url, body: SMALL_BODY, headers: t.headers, connections: plan.connections };
      const result = await drive({ ...load, duration: plan.pairedSeconds });
      check(result, `${t.name} paired throughput`);
      const ttfb = await streamingTtfb(t.url, STREAM_BODY, t.headers, plan.pairedLatencyRequests);
      const plain = await sequentialLatency(t.url, SMALL_BODY, t.headers, plan.pairedLatencyRequests);
      round.rps[t.name] = result.rps;
      round.ttfbP50[t.name] = percentile(ttfb, 50);
      round.plainP50[t.name] = percentile(plain, 50);
      log(t.name, `paired round ${r + 1}: ${result.rps.toFixed(0)} req/s, streaming TTFB p50 ${round.ttfbP50[t.name]!.toFixed(2)} ms, one at a time p50 ${round.plainP50[t.name]!.toFixed(2)} ms`);
    }
    rounds.push(round);
  }
  return rounds;
}
