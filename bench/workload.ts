/** The requests the benchmark sends: deterministic, so every run and every target sees the same bytes. */

const WORDS = (
  "the of and to in is that for it as with was on be by this are or from at an which have not but " +
  "budget request model token stream upstream latency replica window counter reservation settle cost " +
  "customer invoice quarterly revenue forecast analysis report summary meeting schedule deadline " +
  "function variable return string number array object promise async await error handler module " +
  "however therefore meanwhile although because whereas moreover nevertheless consequently " +
  "kubernetes postgres redis nginx docker terraform prometheus grafana webhook endpoint payload"
).split(" ");
const PUNCTUATION = [".", ",", "?", ";", ":", "!"];

/** A small seeded generator (mulberry32), so texts are the same on every run. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Prose-like text of about `chars` characters: words, numbers, punctuation, line breaks. */
export function prose(chars: number, seed: number): string {
  const random = generator(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const r = random();
    let word = WORDS[Math.floor(random() * WORDS.length)]!;
    if (r < 0.05) word = String(Math.floor(random() * 100_000));
    else if (r < 0.1) word = word[0]!.toUpperCase() + word.slice(1);
    if (random() < 0.08) word += PUNCTUATION[Math.floor(random() * PUNCTUATION.length)]!;
    if (random() < 0.01) word += "\n";
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(" ").slice(0, chars);
}

/** A model with a 1M-token context window, so the 1 MB prompt fits. */
export const MODEL = "gpt-4.1-mini";

/** The small non-streaming request of the throughput runs. */
export const SMALL_BODY = JSON.stringify({
  model: MODEL,
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is the capital of France? Answer in one word." },
  ],
  max_tokens: 32,
});

export const ONE_MESSAGE_BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: "user", content: "What is the capital of France? Answer in one word." }],
});

export const STREAM_BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: "user", content: "Say hello." }],
  stream: true,
  max_tokens: 32,
});

export interface Message {
  role: string;
  content: string;
}

/**
 * A conversation of `turns` turns whose last request is about `bytes` long: a system prompt, then
 * per turn a user message and the assistant's answer (a quarter and three quarters of the turn).
 * `turnRequest(k)` is what a chat client sends at turn k: everything so far plus the new question.
 */
export function conversation(turns: number, bytes: number): { turnRequest(k: number): string } {
  const system: Message = { role: "system", content: prose(1000, 1) };
  const perTurn = Math.floor((bytes - 1000) / turns);
  const messages: Message[] = [];
  for (let k = 1; k <= turns; k++) {
    messages.push({ role: "user", content: prose(Math.floor(perTurn / 4), 1000 + k) });
    messages.push({ role: "assistant", content: prose(Math.floor((perTurn * 3) / 4), 2000 + k) });
  }
  return {
    turnRequest(k) {
      return JSON.stringify({ model: MODEL, messages: [system, ...messages.slice(0, 2 * k - 1)] });
    },
  };
}

/** A prompt of `bytes` of prose in one user message; `variant` makes each one a new text (no cached count). */
export function largePrompt(base: string, variant: number): string {
  return JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `Document ${variant}: ${base}` }] });
}

/** A request of one user message of `parts` short text parts (200,000: 5.6 MB), each request's texts its own. */
export function manyParts(parts: number, variant: number): string {
  const content = Array.from({ length: parts }, (_, i) => ({ type: "text", text: `w${variant}-${i % 10}` }));
  return JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] });
}
