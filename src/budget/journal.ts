import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.js";
import type { SettleRequest } from "./interface.js";
import type { ScopeCounter } from "./scopes.js";

/** A settle the store could not take: what it needs to be applied later, by this replica or the next start. */
export interface JournalEntry {
  request: SettleRequest;
  counters: ScopeCounter[];
}

const PREFIX = "settles-";
const CLAIMED = ".replaying";

/**
 * The settle journal (`store.journal_dir`): settles that could not reach the store, appended one
 * JSON line each and fsynced before the settle counts as kept, so a replica stopped (or killed)
 * while Redis is away loses no spend. The Settler empties it once every entry is applied; a start
 * replays what an earlier process left, in a folder of its own or shared by every replica (each
 * writes a file of its own). Replaying twice is harmless: settle is idempotent by request id (the
 * store remembers settled ids for a day), so each entry counts exactly once.
 *
 * ```ts
 * const journal = new SettleJournal("/var/lib/tollgate/journal", replicaId, logger);
 * for (const entry of journal.recover()) queue(entry); // at start
 * journal.append(entry); ... journal.clear();           // store away, then back
 * ```
 */
export class SettleJournal {
  private fd: number | undefined;
  private readonly file: string;
  /** Entries in this replica's file since it was last cleared. */
  private entries = 0;
  /** What the file must hold when it is written anew (the Settler's queue: it holds no more than that). */
  private keeping: () => readonly JournalEntry[] = () => [];

  constructor(
    readonly dir: string,
    replica: string,
    private readonly logger: Logger,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${PREFIX}${replica}.jsonl`);
  }

  /**
   * Appends the entries and syncs them to disk; throws when the disk refuses (the caller logs the
   * loss). A file another replica's start claimed while this one lives (a folder they share) is
   * gone from the folder: this replica starts a new one with everything it still keeps. Both then
   * apply those entries, which counts them once: settle is idempotent.
   */
  append(...entries: JournalEntry[]): void {
    if (entries.length === 0) return;
    let lines = entries;
    if (this.fd !== undefined && fstatSync(this.fd).nlink === 0) {
      closeSync(this.fd);
      this.fd = undefined;
      const kept = new Set(this.keeping());
      lines = [...kept, ...entries.filter((e) => !kept.has(e))];
    }
    this.fd ??= openSync(this.file, "a");
    writeSync(this.fd, lines.map((e) => `${JSON.stringify(e)}\n`).join(""));
    fsyncSync(this.fd);
    this.entries += lines.length;
  }

  /** Where the entries still to apply are kept (the Settler's queue), for a file written anew. */
  keep(pending: () => readonly JournalEntry[]): void {
    this.keeping = pending;
  }

  /** Every entry is in the store: the file starts again empty. */
  clear(): void {
    if (this.fd === undefined || this.entries === 0) return;
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.entries = 0;
  }

  /** Entries written to the journal and not yet cleared. */
  get pending(): number {
    return this.entries;
  }

  /**
   * What earlier processes left (any replica's file in the folder, claimed by an atomic rename so
   * two replicas sharing the folder never both take one), moved into this replica's own file before
   * the old ones are removed: a crash in between leaves every entry in some file.
   */
  recover(): JournalEntry[] {
    const recovered: JournalEntry[] = [];
    const claimed: string[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith(PREFIX) || join(this.dir, name) === this.file) continue;
      const path = join(this.dir, name);
      const mine = name.endsWith(CLAIMED) ? path : `${path}${CLAIMED}`;
      try {
        if (mine !== path) renameSync(path, mine);
      } catch {
        continue; // another replica claimed it first
      }
      claimed.push(mine);
      recovered.push(...this.read(mine));
    }
    this.append(...recovered);
    for (const path of claimed) unlinkSync(path);
    return recovered;
  }

  /** A file's entries; a line cut short by a crash mid-write is skipped, and said. */
  private read(path: string): JournalEntry[] {
    const entries: JournalEntry[] = [];
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (line === "") continue;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        this.logger.log("error", "settle_journal_line_unreadable", { file: path, line: line.slice(0, 200) });
      }
    }
    return entries;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
