import { readFileSync } from "node:fs";

/**
 * Sums the self time of a V8 .cpuprofile (node --cpu-prof) per function and per file or package,
 * to see what dominates a profile.
 *
 *   npx tsx bench/cpuprofile.ts /tmp/prof/tollgate-redis/CPU.*.cpuprofile [--top 40] [--from 5]
 *
 * Start-up (module loading, tiktoken's tables) is left out: samples count from the first one in a
 * route handler (src/ or dist/server/routes/, or bench/passthrough.ts), or from `--from S` seconds when given.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (!url) return "(native)";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return url;
  // The bench runs the build: dist/ is named as the src/ it was built from.
  const src = Math.max(url.indexOf("/src/"), url.indexOf("/dist/"));
  if (src >= 0) return url.slice(src + 1).replace(/^dist\//, "src/").replace(/\.js$/, ".ts");
  const bench = url.indexOf("/bench/");
  return bench >= 0 ? url.slice(bench + 1) : url;
}

function summarise(path: string, top: number, fromSeconds: number): void {
  const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let elapsed = 0;
  let counting = false;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i] ?? 0;
    elapsed += dt;
    if (!counting) {
      const url = byId.get(id)!.callFrame.url;
      const inRoute = url.includes("/src/server/routes/") || url.includes("/dist/server/routes/") || url.endsWith("/bench/passthrough.ts");
      counting = Number.isNaN(fromSeconds) ? inRoute : elapsed >= fromSeconds * 1e6;
      if (!counting) continue;
    }
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const file = where(f.url);
    const name = `${f.functionName || "(anonymous)"}  ${file}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const busy = total - (byFunction.get("(idle)  (native)") ?? 0);
  const show = (title: string, map: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${name}`);
    }
  };
  console.log(`${path}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle (percentages are of that)`);
  show("self time by file or package", byFile, 25);
  show("self time by function", byFunction, top);

  // Inclusive time of tollgate's own functions: everything sampled while one was on the stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!(f.url.includes("/src/") || f.url.includes("/dist/")) || f.url.includes("node_modules")) continue;
      const name = `${f.functionName || "(anonymous)"}  ${where(f.url)}`;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  show("inclusive time of tollgate functions (synchronous part of each call)", inclusive, 30);
}

const args = process.argv.slice(2);
const topFlag = args.indexOf("--top");
const top = topFlag >= 0 ? Number(args.splice(topFlag, 2)[1]) : 40;
const fromFlag = args.indexOf("--from");
const from = fromFlag >= 0 ? Number(args.splice(fromFlag, 2)[1]) : NaN;
for (const path of args) summarise(path, top, from);
