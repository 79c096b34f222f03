import type { Writable } from "node:stream";

/** Progress on a terminal as a bar redrawn in place, elsewhere as plain lines. */
export class Progress {
  constructor(private readonly out: Writable & { isTTY?: boolean }) {}

  step(label: string, done: number, total: number): void {
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round((done / Math.max(1, total)) * width);
      this.out.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}${done === total ? "\n" : ""}`);
    } else if (done === total || done % 100 === 0) this.out.write(`${label}: ${done}/${total}\n`);
  }

  line(text: string): void {
    this.out.write(`${text}\n`);
  }
}
