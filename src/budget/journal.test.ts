import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemoryLogger } from "../log.js";
import { SettleJournal, type JournalEntry } from "./journal.js";

const entry = (requestId: string, actual = 100): JournalEntry => ({
  request: { requestId, actual, counters: [], thresholds: [], record: null, day: "2026-11-26", aggregates: [], now: 0 },
  counters: [],
});
const folder = () => mkdtempSync(join(tmpdir(), "tollgate-journal-"));

describe("SettleJournal", () => {
  it("appends one line per settle, and starts empty again once cleared", () => {
    const dir = folder();
    const journal = new SettleJournal(dir, "a", new MemoryLogger());
    journal.append(entry("r1"), entry("r2"));
    expect(readFileSync(join(dir, "settles-a.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).request.requestId)).toEqual(["r1", "r2"]);
    expect(journal.pending).toBe(2);
    journal.clear();
    expect(readFileSync(join(dir, "settles-a.jsonl"), "utf8")).toBe("");
    journal.close();
  });

  it("recovers what earlier processes left, into its own file, once", () => {
    const dir = folder();
    const old = new SettleJournal(dir, "old", new MemoryLogger());
    old.append(entry("r1"), entry("r2"));
    old.close();
    const next = new SettleJournal(dir, "next", new MemoryLogger());
    expect(next.recover().map((e) => e.request.requestId)).toEqual(["r1", "r2"]);
    expect(readdirSync(dir)).toEqual(["settles-next.jsonl"]);
    expect(next.pending).toBe(2);
    // A third process, before `next` cleared it: `next`'s file is someone else's to it, and replayed again (settle is idempotent).
    expect(new SettleJournal(dir, "third", new MemoryLogger()).recover()).toHaveLength(2);
  });

  it("starts a new file with everything it keeps when a start of another replica claimed its file", () => {
    const dir = folder();
    const live = new SettleJournal(dir, "live", new MemoryLogger());
    const queue = [entry("r1")];
    live.keep(() => queue);
    live.append(queue[0]!);
    expect(new SettleJournal(dir, "other", new MemoryLogger()).recover().map((e) => e.request.requestId)).toEqual(["r1"]);
    queue.push(entry("r2"));
    live.append(queue[1]!);
    const ids = readFileSync(join(dir, "settles-live.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).request.requestId);
    expect(ids).toEqual(["r1", "r2"]);
    live.close();
  });

  it("skips a line a crash cut short, and says so", () => {
    const dir = folder();
    const old = new SettleJournal(dir, "old", new MemoryLogger());
    old.append(entry("r1"));
    old.close();
    appendFileSync(join(dir, "settles-old.jsonl"), '{"request":{"requestId":"r2","act');
    const logger = new MemoryLogger();
    expect(new SettleJournal(dir, "next", logger).recover().map((e) => e.request.requestId)).toEqual(["r1"]);
    expect(logger.lines).toMatchObject([{ level: "error", event: "settle_journal_line_unreadable" }]);
  });

  it("takes over a file another start claimed and did not finish", () => {
    const dir = folder();
    const old = new SettleJournal(dir, "old", new MemoryLogger());
    old.append(entry("r1"));
    old.close();
    appendFileSync(join(dir, "settles-crashed.jsonl.replaying"), `${JSON.stringify(entry("r2"))}\n`);
    expect(new SettleJournal(dir, "next", new MemoryLogger()).recover().map((e) => e.request.requestId).sort()).toEqual(["r1", "r2"]);
  });
});
