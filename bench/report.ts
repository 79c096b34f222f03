import type { OtherLoad } from "./machine.js";
import type { LargeResult, PairedRound, TargetResult } from "./measure.js";

/** docs/benchmarks.md from one run's results; the hand-written profile notes are appended verbatim. */

export interface RunInfo {
  date: string;
  commit: string;
  machine: { cpu: string; cores: number; memoryGb: number; os: string };
  versions: Array<[string, string]>;
  seconds: number;
  otherLoad: OtherLoad;
  /** The paired phase's rounds, when it ran. */
  paired?: PairedRound[];
  plan: { connections: number; throughputSeconds: number; ttfbRequests: number; conversationTurns: number; conversationRepeats: number; largeSeconds: number; largeSmallRate: number; manyParts?: number; pairedSeconds?: number; pairedLatencyRequests?: number; memoryWarmup: number; memoryRequests: number };
}

export interface TargetCheck {
  name: string;
  measured: string;
  limit: string;
  holds: boolean;
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? "—" : n.toFixed(digits));
const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "—" : Math.round(n).toLocaleString("en-US"));
const ratio = (n: number | undefined, base: number | undefined) =>
  n === undefined || base === undefined || !Number.isFinite(n) || !Number.isFinite(base) || base === 0 ? "—" : `${(n / base).toFixed(2)}×`;
const delta = (n: number | undefined, base: number | undefined) =>
  n === undefined || base === undefined ? "—" : `${n - base >= 0 ? "+" : ""}${(n - base).toFixed(2)} ms`;

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map((h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`];
  for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
  return lines.join("\n");
}

/**
 * The bare pass-through all ratios are taken to. Its throughput is measured at the start and again
 * at the end of the run; throughput, latency and CPU then use the mean of the two.
 */
export function baseline(results: TargetResult[]): TargetResult {
  const first = results.find((r) => r.name === "passthrough")!;
  const again = results.find((r) => r.name === "passthrough (again)");
  if (!again || !Number.isFinite(again.throughput.rps)) return first;
  const mean = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? a : (a + b) / 2);
  const t1 = first.throughput;
  const t2 = again.throughput;
  return {
    ...first,
    throughput: {
      ...t1,
      rps: (t1.rps + t2.rps) / 2,
      p50: (t1.p50 + t2.p50) / 2,
      p99: (t1.p99 + t2.p99) / 2,
      cpuUs: mean(t1.cpuUs, t2.cpuUs),
      rssMb: mean(t1.rssMb, t2.rssMb),
    },
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Per round of the paired phase, a server's figure against the pass-through's of the same round. */
export function pairedFigures(rounds: PairedRound[], name: string) {
  const of = (pick: (r: PairedRound) => Record<string, number>, compare: (a: number, b: number) => number) =>
    rounds.filter((r) => pick(r)[name] !== undefined && pick(r)[BASE_NAME] !== undefined).map((r) => compare(pick(r)[name]!, pick(r)[BASE_NAME]!));
  return {
    rps: of((r) => r.rps, (a, b) => a / b),
    ttfb: of((r) => r.ttfbP50, (a, b) => a - b),
    plain: of((r) => r.plainP50, (a, b) => a - b),
  };
}

const BASE_NAME = "passthrough";
const signed = (d: number) => `${d >= 0 ? "+" : ""}${d.toFixed(2)}`;
const spread = (values: number[], show: (v: number) => string) => `rounds: ${values.map(show).join(", ")}`;

/**
 * The targets. With the paired phase, throughput and the one-at-a-time latencies are judged on the
 * median of its rounds (each against the pass-through of the same round); else on the single runs.
 */
export function checks(results: TargetResult[], subject: string, paired?: PairedRound[]): TargetCheck[] {
  const base = baseline(results);
  const s = results.find((r) => r.name === subject)!;
  const out: TargetCheck[] = [];
  const pairedOf = (name: string) => (paired && paired.length > 0 ? pairedFigures(paired, name) : undefined);
  const sp = pairedOf(subject);
  if (sp && sp.rps.length > 0) {
    const rps = median(sp.rps);
    out.push({ name: `Throughput, ${subject} (median of ${sp.rps.length} paired rounds)`, measured: `${rps.toFixed(2)}× the pass-through (${spread(sp.rps, (v) => v.toFixed(2))})`, limit: "≥ 0.70×", holds: rps >= 0.7 });
  } else {
    const rps = s.throughput.rps / base.throughput.rps;
    out.push({ name: `Throughput, ${subject}`, measured: `${rps.toFixed(2)}× the pass-through`, limit: "≥ 0.70×", holds: rps >= 0.7 });
  }
  const memory = results.find((r) => r.name === "tollgate-memory");
  const mp = pairedOf("tollgate-memory");
  if (mp && mp.rps.length > 0) {
    const rps = median(mp.rps);
    out.push({ name: `Throughput, tollgate-memory (median of ${mp.rps.length} paired rounds)`, measured: `${rps.toFixed(2)}× the pass-through (${spread(mp.rps, (v) => v.toFixed(2))})`, limit: "≥ 0.80×", holds: rps >= 0.8 });
  } else if (memory && Number.isFinite(memory.throughput.rps)) {
    const rps = memory.throughput.rps / base.throughput.rps;
    out.push({ name: `Throughput, tollgate-memory`, measured: `${rps.toFixed(2)}× the pass-through`, limit: "≥ 0.80×", holds: rps >= 0.8 });
  }
  const p99 = s.throughput.p99 / base.throughput.p99;
  out.push({ name: `p99 latency, ${subject}`, measured: `${p99.toFixed(2)}× the pass-through`, limit: "≤ 1.50×", holds: p99 <= 1.5 });
  for (const r of results.filter((r) => r.name.startsWith("tollgate"))) {
    const rp = pairedOf(r.name);
    if (rp && rp.ttfb.length > 0) {
      const d = median(rp.ttfb);
      out.push({ name: `Streaming TTFB (median), ${r.name} (median of ${rp.ttfb.length} paired rounds)`, measured: `${signed(d)} ms vs the pass-through (${spread(rp.ttfb, signed)})`, limit: "≤ +0.3 ms", holds: d <= 0.3 });
      const plain = median(rp.plain);
      out.push({ name: `Added latency one at a time (median), ${r.name} (median of ${rp.plain.length} paired rounds)`, measured: `${signed(plain)} ms vs the pass-through (${spread(rp.plain, signed)})`, limit: "≤ +0.3 ms", holds: plain <= 0.3 });
      continue;
    }
    const d = r.ttfb.p50 - base.ttfb.p50;
    out.push({ name: `Streaming TTFB (median), ${r.name}`, measured: `${signed(d)} ms vs the pass-through`, limit: "≤ +0.3 ms", holds: d <= 0.3 });
    const plain = r.ttfb.plainP50 - base.ttfb.plainP50;
    if (Number.isFinite(plain)) out.push({ name: `Added latency one at a time (median), ${r.name}`, measured: `${signed(plain)} ms vs the pass-through`, limit: "≤ +0.3 ms", holds: plain <= 0.3 });
  }
  // The pass-through's own last turn costs 2-4x its one message (reading and writing 100 KB): what the
  // proxy is held to is the CPU it adds to each, so a longer history must not make it do more per turn.
  const b = base.conversation;
  for (const r of results.filter((r) => r.name.startsWith("tollgate") && r.conversation && b)) {
    const c = r.conversation!;
    const x = (c.lastTurnCpuUs - b!.lastTurnCpuUs) / (c.oneMessageCpuUs - b!.oneMessageCpuUs);
    const whole = c.lastTurnCpuUs / c.oneMessageCpuUs;
    out.push({
      name: `CPU tollgate adds to the 50th turn / to one message, ${r.name}`,
      measured: `${x.toFixed(2)}× (whole process: ${whole.toFixed(2)}×, pass-through ${(b!.lastTurnCpuUs / b!.oneMessageCpuUs).toFixed(2)}×)`,
      limit: "≤ 1.5×",
      holds: x <= 1.5,
    });
  }
  for (const r of results.filter((r) => r.name.startsWith("tollgate") && r.large)) {
    const p = r.large!.eventLoopP99;
    out.push({ name: `Event-loop delay p99 beside 1 MB prompts, ${r.name}`, measured: `${p.toFixed(1)} ms`, limit: "< 20 ms", holds: p < 20 });
    if (base.large) {
      const x = r.large!.largeMedianMs / base.large.largeMedianMs;
      out.push({ name: `1 MB prompt time, ${r.name}`, measured: `${x.toFixed(2)}× the pass-through`, limit: "≤ 3×", holds: x <= 3 });
    }
  }
  for (const r of results.filter((r) => r.name.startsWith("tollgate") && r.parts)) {
    const p = r.parts!.eventLoopP99;
    out.push({ name: `Event-loop delay p99 beside 200,000-part requests, ${r.name}`, measured: `${p.toFixed(1)} ms (max ${r.parts!.eventLoopMax.toFixed(1)} ms)`, limit: "≤ 50 ms", holds: p <= 50 });
  }
  for (const r of results.filter((r) => r.memory)) {
    const m = r.memory!;
    const g = m.rssEndMb / m.rssAfterWarmupMb - 1;
    out.push({
      name: `Memory over ${int(m.requests)} requests, ${r.name}`,
      measured: `RSS ${fmt(m.rssAfterWarmupMb, 1)} → ${fmt(m.rssEndMb, 1)} MB (${g >= 0 ? "+" : ""}${(g * 100).toFixed(1)} %)`,
      limit: "≤ +10 %",
      holds: g <= 0.1,
    });
  }
  return out;
}

export function renderReport(info: RunInfo, results: TargetResult[], targetChecks: TargetCheck[], profileNotes: string): string {
  const base = baseline(results);
  const p = info.plan;
  const out: string[] = [];
  out.push("# Benchmarks");
  out.push("");
  out.push(
    "<!-- Generated by `npm run bench` (bench/run.ts): do not edit by hand. The \"Profiles\" section comes from " +
      "bench/profile-notes.md; after editing it, `BENCH_REPORT_FROM=docs/benchmarks.json npm run bench` renders this file " +
      "again from the same run's data. -->",
  );
  out.push("");
  out.push(`Run on ${info.date} at commit \`${info.commit}\`; the whole run took ${Math.round(info.seconds)} s.`);
  out.push("");
  out.push("## Machine");
  out.push("");
  out.push(table(["", ""], [
    ["CPU", info.machine.cpu],
    ["cores", String(info.machine.cores)],
    ["memory", `${info.machine.memoryGb.toFixed(1)} GB`],
    ["OS", info.machine.os],
  ]));
  out.push("");
  out.push(
    `Every process of the run (load generator, upstream, the server under test, Redis) shares these cores. ` +
      `Processes outside the benchmark used ${info.otherLoad.seconds.toFixed(1)} CPU seconds during the run ` +
      `(${(info.otherLoad.share * 100).toFixed(0)} % of the machine's capacity)${info.otherLoad.share > 0.05 ? ": the numbers below are disturbed by that" : ""}.`,
  );
  out.push("");
  out.push("## Versions");
  out.push("");
  out.push(table(["component", "version"], info.versions.map(([n, v]) => [n, v])));
  out.push("");
  out.push("## Targets");
  out.push("");
  out.push(table(["target", "measured", "limit", "holds"], targetChecks.map((c) => [c.name, c.measured, c.limit, c.holds ? "yes" : "**no**"])));
  out.push("");
  out.push(`## Throughput and latency (small non-streaming requests, ${p.connections} connections, ${p.throughputSeconds} s)`);
  out.push("");
  out.push(
    "Ratios are to the bare pass-through measured in the same run: its throughput is measured first and again last, " +
      "and the ratios use the mean of the two (their difference shows how much the machine drifted during the run).",
  );
  out.push("");
  out.push(
    table(
      ["server", "requests/s", "×", "p50 ms", "×", "p99 ms", "×", "CPU µs/request", "×", "event-loop p99 ms", "RSS MB", "×"],
      results.filter((r) => Number.isFinite(r.throughput.rps)).map((r) => [
        r.name,
        int(r.throughput.rps),
        ratio(r.throughput.rps, base.throughput.rps),
        fmt(r.throughput.p50),
        ratio(r.throughput.p50, base.throughput.p50),
        fmt(r.throughput.p99),
        ratio(r.throughput.p99, base.throughput.p99),
        int(r.throughput.cpuUs),
        ratio(r.throughput.cpuUs, base.throughput.cpuUs),
        fmt(r.throughput.eventLoopP99, 1),
        fmt(r.throughput.rssMb, 1),
        ratio(r.throughput.rssMb, base.throughput.rssMb),
      ]),
    ),
  );
  out.push("");
  if (info.paired && info.paired.length > 0) {
    const names = info.paired[0]!.order.filter((n) => n !== BASE_NAME).sort();
    out.push(`## Paired rounds (every server running and warmed up; per round each measured back to back: ${p.pairedSeconds ?? 2} s of throughput, then ${p.pairedLatencyRequests ?? 60} streaming and ${p.pairedLatencyRequests ?? 60} plain requests one at a time)`);
    out.push("");
    out.push("Each figure is against the pass-through of the same round; the targets above take the median of the rounds.");
    out.push("");
    out.push(
      table(
        ["round", "order", "pass-through req/s", ...names.flatMap((n) => [`${n} req/s`, "×", "TTFB vs pass-through ms", "one at a time vs pass-through ms"])],
        info.paired.map((r, i) => [
          String(i + 1),
          r.order.join(", "),
          int(r.rps[BASE_NAME]),
          ...names.flatMap((n) => [int(r.rps[n]), ratio(r.rps[n], r.rps[BASE_NAME]), signed(r.ttfbP50[n]! - r.ttfbP50[BASE_NAME]!), signed(r.plainP50[n]! - r.plainP50[BASE_NAME]!)]),
        ]),
      ),
    );
    out.push("");
  }
  out.push(`## Streaming time to first byte (${p.ttfbRequests} streaming requests, one at a time)`);
  out.push("");
  out.push(
    table(
      ["server", "TTFB p50 ms", "vs pass-through", "TTFB p99 ms", "vs pass-through"],
      results
        .filter((r) => Number.isFinite(r.ttfb.p50))
        .map((r) => [r.name, fmt(r.ttfb.p50, 3), delta(r.ttfb.p50, base.ttfb.p50), fmt(r.ttfb.p99, 3), delta(r.ttfb.p99, base.ttfb.p99)]),
    ),
  );
  out.push("");
  out.push(`## Added latency, one connection, one request at a time (${p.ttfbRequests} non-streamed requests)`);
  out.push("");
  out.push(
    table(
      ["server", "p50 ms", "vs pass-through", "p99 ms", "vs pass-through"],
      results
        .filter((r) => Number.isFinite(r.ttfb.plainP50))
        .map((r) => [r.name, fmt(r.ttfb.plainP50, 3), delta(r.ttfb.plainP50, base.ttfb.plainP50), fmt(r.ttfb.plainP99, 3), delta(r.ttfb.plainP99, base.ttfb.plainP99)]),
    ),
  );
  out.push("");
  const beside = (title: string, unit: string, of: (r: TargetResult) => LargeResult | undefined) => {
    const rows = results.filter((r) => of(r));
    out.push(title);
    out.push("");
    out.push(
      table(
        ["server", `${unit} sent`, `${unit} median ms`, "small requests/s", "×", "small p99 ms", "×", "event-loop p99 ms", "×", "event-loop max ms"],
        rows.map((r) => {
          const l = of(r)!;
          const b = of(base);
          return [
            r.name,
            String(l.largeRequests),
            fmt(l.largeMedianMs, 1),
            int(l.small.rps),
            ratio(l.small.rps, b?.small.rps),
            fmt(l.small.p99),
            ratio(l.small.p99, b?.small.p99),
            fmt(l.eventLoopP99, 1),
            ratio(l.eventLoopP99, b?.eventLoopP99),
            fmt(l.eventLoopMax, 1),
          ];
        }),
      ),
    );
    out.push("");
  };
  beside(`## Event-loop delay beside 1 MB prompts (small requests at ${p.largeSmallRate}/s on ${p.connections} connections for ${p.largeSeconds} s, 1 MB prompts one after another)`, "1 MB prompts", (r) => r.large);
  if (results.some((r) => r.parts)) {
    beside(
      `## Event-loop delay beside ${int(p.manyParts ?? 200_000)}-part requests (small requests at ${p.largeSmallRate}/s for ${p.largeSeconds} s; each big request one user message of that many short text parts, 5.6 MB: tollgate refuses it, 400 \`server.max_parts\`, the pass-through forwards it)`,
      "big requests",
      (r) => r.parts,
    );
  }
  const withConv = results.filter((r) => r.conversation);
  out.push(`## CPU per request in a long conversation (${p.conversationTurns} turns, each resent in full; ${p.conversationRepeats} requests each)`);
  out.push("");
  out.push(
    table(
      ["server", "last turn KB", "one message µs", "×", "last turn µs", "×", "last turn / one message", "added: one message µs", "added: last turn µs", "added: last / one"],
      withConv.map((r) => {
        const c = r.conversation!;
        const b = base.conversation;
        const added = b && r.name.startsWith("tollgate") ? [int(c.oneMessageCpuUs - b.oneMessageCpuUs), int(c.lastTurnCpuUs - b.lastTurnCpuUs), `${((c.lastTurnCpuUs - b.lastTurnCpuUs) / (c.oneMessageCpuUs - b.oneMessageCpuUs)).toFixed(2)}×`] : ["—", "—", "—"];
        return [
          r.name,
          fmt(c.lastTurnBytes / 1024, 0),
          int(c.oneMessageCpuUs),
          ratio(c.oneMessageCpuUs, b?.oneMessageCpuUs),
          int(c.lastTurnCpuUs),
          ratio(c.lastTurnCpuUs, b?.lastTurnCpuUs),
          `${(c.lastTurnCpuUs / c.oneMessageCpuUs).toFixed(2)}×`,
          ...added,
        ];
      }),
    ),
  );
  out.push("");
  const withMemory = results.filter((r) => r.memory);
  out.push(`## Memory over ${int(p.memoryRequests)} requests (after at least ${int(p.memoryWarmup)} of warm-up, ${p.connections} connections)`);
  out.push("");
  out.push("RSS after a full garbage collection (judged), then as read without one, and the highest RSS sampled every 2 s.");
  out.push("");
  out.push(
    table(
      ["server", "requests/s", "RSS after warm-up MB", "RSS at end MB", "growth", "heap used after warm-up MB", "heap used at end MB", "raw RSS after warm-up MB", "raw RSS at end MB", "peak RSS MB"],
      withMemory.map((r) => {
        const m = r.memory!;
        return [
          r.name,
          int(m.rps),
          fmt(m.rssAfterWarmupMb, 1),
          fmt(m.rssEndMb, 1),
          `${((m.rssEndMb / m.rssAfterWarmupMb - 1) * 100).toFixed(1)} %`,
          fmt(m.heapAfterWarmupMb, 1),
          fmt(m.heapEndMb, 1),
          fmt(m.rawRssAfterWarmupMb, 1),
          fmt(m.rawRssEndMb, 1),
          fmt(m.peakRssMb, 1),
        ];
      }),
    ),
  );
  out.push("");
  out.push(METHOD);
  out.push("");
  out.push(profileNotes.trim());
  out.push("");
  return out.join("\n");
}

const METHOD = `## How it is measured

- **Servers.** \`direct\` (for reference; its throughput run lasts 4 s) is the benchmark's own upstream
  (bench/upstream.ts: a node:http server answering a small chat.completion with \`usage\`, or an SSE stream
  whose first chunk leaves at once and the rest 1 ms later). \`passthrough\` (bench/passthrough.ts) is the
  floor for this stack: Hono on @hono/node-server, the body read as text and forwarded with an undici Pool
  (the client's abort signal passed on, as a proxy must), the upstream's status and body returned
  (streamed for SSE). \`tollgate-memory\` is the build, \`node dist/main.js\` (as the container image runs it; built by the run), on the memory store, open
  mode, no budgets. \`tollgate-redis\` is the same on Redis (127.0.0.1:6379, its own key prefix, deleted
  afterwards) with one configured key in a team, daily and monthly budgets in the global, team and key
  scopes (large enough never to refuse) and an admin key for \`/metrics\`; the load generator sends the
  client key. Each server runs in its own process, one at a time beside the upstream; tollgate's
  per-request log lines go to /dev/null.
- **Throughput and latency.** autocannon (programmatic API, in the orchestrating process), small
  non-streaming requests, after a warm-up run. Percentiles come from each response's own timing
  (autocannon's summary histogram rounds to whole milliseconds).
- **CPU, memory, event-loop delay** are read from each server's own \`GET /metrics\` (prom-client default
  metrics; the pass-through exposes the same ones): CPU as the delta of \`process_cpu_seconds_total\`
  divided by the requests in between, memory as \`process_resident_memory_bytes\`. prom-client (15.x)
  resets its event-loop delay histogram (\`monitorEventLoopDelay\`, 1 ms resolution) at every scrape, so
  \`nodejs_eventloop_lag_p99_seconds\` read at the end of a phase covers that phase alone (a scrape starts it).
- **Paired rounds.** The pass-through and both tollgates are started together, each warmed up, then
  measured in twelve rounds (the order turned each round and reversed every other one): in each, one
  server after another, 2 s of throughput, then 60 streaming and 60 plain requests one at a time. This
  machine's speed drifts by
  tens of percent within a minute (the pass-through measured first and last in one run has differed by
  40 %), so a ratio between two runs a minute apart measures the drift as much as the servers. The
  throughput and one-at-a-time targets take the median over the rounds of each round's own ratio or
  difference; the single runs above are listed as measured.
- **Streaming TTFB.** Streaming requests one at a time with undici \`request\`, time from sending to the
  first body byte, after 20 warm-up requests.
- **Conversation CPU.** A 50-turn conversation (a system prompt, then per turn a user question and a
  three-times-longer answer, about 100 KB in all) sent turn by turn as a chat client does, each request
  carrying everything before it; then, four at a time, one-message requests and repeats of the last turn
  in alternating blocks (four of each), each block between two scrapes, less the CPU a scrape itself costs.
  The target is on what tollgate adds: its CPU less the pass-through's, at the last turn over at one
  message. The pass-through's own last turn costs 2-4× its one message (it reads and writes the 100 KB),
  so the whole process's ratio is listed beside it but cannot be held to 1.5× on this stack.
- **1 MB prompts.** While small requests run at a steady rate well under every server's capacity, 1 MB
  prompts (each a new text, so no count is cached) go through one after another; the event-loop delay p99
  and max cover that phase alone. At full load a turn of the event loop lasts as long as the requests
  queued for it take (the bare pass-through's p99 is 15-27 ms there on this machine), so the delay would
  measure the load rather than what the 1 MB prompt blocks.
- **200,000-part requests.** The same, with requests of one user message of 200,000 short text parts
  (5.6 MB) instead of 1 MB prompts. tollgate counts the JSON objects of a body as its bytes arrive and
  refuses one of more than \`server.max_parts\` can need (400) before parsing it; the pass-through
  forwards them whole.
- **Memory.** Small requests at full load: a warm-up (the throughput phase's requests count towards it), then
  the long run (RSS sampled every 2 s for its peak). RSS is judged
  right after a full garbage collection, requested through the inspector (tollgate-redis runs with
  \`--inspect\` on loopback for this): V8 lets its old generation grow to about twice the live heap before
  collecting, so an RSS read at a random moment swings by a hundred MB or more with no memory held.
  The raw readings and the peak are listed beside it. Measured on tollgate-redis, the configuration that
  holds budgets (the memory store keeps up to \`store.usage_records_max\` usage records in the process
  by design).`;
