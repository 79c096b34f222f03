/**
 * Upstream error bodies sometimes echo the request's credentials back. Before one reaches the
 * client, the configured upstream keys and anything shaped like an API key or a bearer token
 * are masked.
 */
const KEY_SHAPED = /\b((?:sk|pk|rk|sess)-(?:[a-z]+-)?)[A-Za-z0-9_-]{12,}|\b(AIza)[0-9A-Za-z_-]{20,}|\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g;

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 8 && out.includes(secret)) out = out.split(secret).join("***");
  return out.replace(KEY_SHAPED, (_, a: string | undefined, b: string | undefined, c: string | undefined) => `${a ?? b ?? c}***`);
}

/** Characters a masked secret can be made of: a chunk boundary inside a run of them could split one. */
const SECRET_CHAR = /[A-Za-z0-9_.~+/=-]/;
/** Past this much held text, a run is let go but for its last part (a base64 image is one long run). */
const MAX_HELD = 1024 * 1024;
const KEEP_WHEN_LONG = 1024;

/**
 * Masks a text that arrives in pieces (a streamed or passed-through body), so a secret split across
 * two chunks is masked all the same. Each piece is let out up to the start of its trailing run of
 * secret characters (with a `Bearer ` before it); the run waits for the next piece or the end.
 */
export class SecretMasker {
  private held = "";

  constructor(private readonly secrets: readonly string[]) {}

  /** What of `text` can leave now, masked. */
  push(text: string): string {
    const all = this.held + text;
    let cut = all.length;
    // Back to the start of the trailing run, and past a `Bearer ` before it, as often as they alternate.
    for (;;) {
      while (cut > 0 && SECRET_CHAR.test(all[cut - 1]!)) cut--;
      const bearer = /Bearer\s*$/i.exec(all.slice(Math.max(0, cut - 64), cut));
      if (!bearer || bearer[0].length === 0) break;
      cut -= bearer[0].length;
    }
    if (all.length - cut > MAX_HELD) cut = all.length - KEEP_WHEN_LONG;
    // A configured secret may hold other characters: one across the cut, whole or still arriving, waits too.
    for (const secret of this.secrets) {
      for (let i = Math.max(0, cut - secret.length + 1); i < cut; i++) {
        if (all.charCodeAt(i) === secret.charCodeAt(0) && (all.startsWith(secret, i) || secret.startsWith(all.slice(i)))) {
          cut = i;
          break;
        }
      }
    }
    this.held = all.slice(cut);
    return cut === 0 ? "" : maskSecrets(all.slice(0, cut), this.secrets);
  }

  /** The rest, masked, at the end of the text. */
  end(): string {
    const rest = this.held;
    this.held = "";
    return rest === "" ? "" : maskSecrets(rest, this.secrets);
  }
}
