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
