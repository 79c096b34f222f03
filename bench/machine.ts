import { readFileSync } from "node:fs";
import { Redis } from "ioredis";

/**
 * How busy the machine was with other work during the run: all CPU time the kernel counted,
 * minus this process and its children (the servers under test, reaped by the end) and Redis.
 * On a shared machine this says whether the run's numbers can be trusted.
 */

const TICK = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  busySeconds: number;
  ourSeconds: number;
  redisSeconds: number;
}

function machineBusySeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / TICK;
}

function ourSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // after the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17
  return ((fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0)) / TICK;
}

async function redisSeconds(url: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info("cpu");
    let total = 0;
    for (const name of ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"]) {
      total += Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    }
    return total;
  } catch {
    return 0;
  } finally {
    redis.disconnect();
  }
}

export async function cpuSnapshot(redisUrl: string): Promise<CpuSnapshot> {
  return { at: performance.now(), busySeconds: machineBusySeconds(), ourSeconds: ourSeconds(), redisSeconds: await redisSeconds(redisUrl) };
}

export interface OtherLoad {
  /** CPU seconds used by processes outside the benchmark. */
  seconds: number;
  /** As a share of the machine's capacity over the run (cores × wall time). */
  share: number;
}

export function otherLoad(start: CpuSnapshot, end: CpuSnapshot, cores: number): OtherLoad {
  const busy = end.busySeconds - start.busySeconds;
  const ours = end.ourSeconds - start.ourSeconds;
  const redis = end.redisSeconds - start.redisSeconds;
  const seconds = Math.max(0, busy - ours - redis);
  const wall = (end.at - start.at) / 1000;
  return { seconds, share: seconds / (wall * cores) };
}
