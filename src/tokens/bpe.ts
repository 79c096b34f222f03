import { createRequire } from "node:module";

/**
 * A byte-pair tokenizer that only counts, over js-tiktoken's rank files. js-tiktoken's own
 * Tiktoken keeps, per token, a comma-joined key and a Uint8Array for decoding: about 140 MB for
 * o200k_base. Counting needs neither: here each token is one Map entry keyed by its bytes as a
 * one-byte string, about 20 MB. The split (the encoding's pattern) and the merges (lowest rank
 * first) are tiktoken's, so counts are the same (src/tokens/bpe.test.ts compares them).
 *
 * Only the rank files of the encodings asked for are loaded, each once.
 */

interface RankFile {
  pat_str: string;
  /** Lines of "! <first rank> <base64 token> <base64 token>..." (tokens numbered from the first). */
  bpe_ranks: string;
}

export type BpeName = "o200k_base" | "cl100k_base";

const require = createRequire(import.meta.url);

/** A token's bytes as a string of one char per byte (Latin-1), the Map's key. */
function bytesKey(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let key = "";
  for (let i = start; i < end; i++) key += String.fromCharCode(bytes[i]!);
  return key;
}

export class BpeCounter {
  private readonly ranks = new Map<string, number>();
  private readonly pattern: RegExp;
  private readonly encoder = new TextEncoder();

  constructor(file: RankFile) {
    this.pattern = new RegExp(file.pat_str, "gu");
    for (const line of file.bpe_ranks.split("\n")) {
      if (!line) continue;
      const parts = line.split(" ");
      const first = Number.parseInt(parts[1]!, 10);
      for (let i = 2; i < parts.length; i++) this.ranks.set(Buffer.from(parts[i]!, "base64").toString("latin1"), first + i - 2);
    }
  }

  static load(name: BpeName): BpeCounter {
    return new BpeCounter(require(`js-tiktoken/ranks/${name}`) as RankFile);
  }

  /** Tokens of `text`, special tokens counted as the plain text they are. */
  count(text: string): number {
    let tokens = 0;
    this.pattern.lastIndex = 0;
    for (const match of text.matchAll(this.pattern)) {
      const piece = match[0];
      // Most pieces are ASCII words that are one token: no byte array needed for them.
      if (this.ranks.has(piece) && isAscii(piece)) {
        tokens++;
        continue;
      }
      const bytes = this.encoder.encode(piece);
      tokens += bytes.length === 1 || this.ranks.has(bytesKey(bytes)) ? 1 : this.merge(bytes);
    }
    return tokens;
  }

  /** Parts left after merging the pair of lowest rank until no pair has one (tiktoken's byte-pair merge). */
  private merge(bytes: Uint8Array): number {
    // Boundaries of the current parts: part i is bytes[starts[i], starts[i + 1]).
    const starts: number[] = [];
    for (let i = 0; i <= bytes.length; i++) starts.push(i);
    while (starts.length > 2) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < starts.length - 2; i++) {
        const rank = this.ranks.get(bytesKey(bytes, starts[i]!, starts[i + 2]!));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      starts.splice(best + 1, 1);
    }
    return starts.length - 1;
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
