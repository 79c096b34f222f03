import { getEncoding } from "js-tiktoken";
import { describe, expect, it } from "vitest";
import { countShortTextTokens, countTextTokens, defaultEncoding } from "./count.js";
import { countPromptTokens, IMAGE_TOKENS, REPLY_PRIMER_TOKENS, TOKENS_PER_MESSAGE, TOKENS_PER_NAME } from "./messages.js";

const o200k = getEncoding("o200k_base");
const cl100k = getEncoding("cl100k_base");
const exact = (text: string, enc = o200k) => enc.encode(text, [], []).length;

describe("countPromptTokens", () => {
  it("adds 3 per message, the role, 1 per name and 3 for the reply primer", async () => {
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Hello world", name: "alice" },
    ];
    const byHand =
      3 + // reply primer
      (3 + exact("system") + exact("You are terse.")) +
      (3 + exact("user") + exact("Hello world") + 1 + exact("alice"));
    expect([TOKENS_PER_MESSAGE, TOKENS_PER_NAME, REPLY_PRIMER_TOKENS]).toEqual([3, 1, 3]);
    expect(await countPromptTokens(messages, "o200k_base")).toBe(byHand);
  });

  it("counts content parts: text exactly, images at a fixed estimate", async () => {
    const messages = [
      {
        role: "user",
        content: [
          { type: "text", text: "What is in this picture?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "text", text: "Be brief." },
        ],
      },
    ];
    const byHand = 3 + 3 + exact("user") + exact("What is in this picture?") + IMAGE_TOKENS + exact("Be brief.");
    expect(await countPromptTokens(messages, "o200k_base")).toBe(byHand);
  });

  it("counts tool calls and tools by their JSON text", async () => {
    const toolCalls = [{ id: "c1" }];
    const tools = [{ type: "function" }];
    const messages = [{ role: "assistant", content: null, tool_calls: toolCalls }];
    const byHand = 3 + 3 + exact("assistant") + exact(JSON.stringify(toolCalls)) + exact(JSON.stringify(tools));
    expect(await countPromptTokens(messages, "o200k_base", tools)).toBe(byHand);
  });

  it("never under-counts long JSON, whose space-free runs are counted in pieces", async () => {
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } } }];
    const json = JSON.stringify(tools);
    const counted = (await countPromptTokens([], "o200k_base", tools)) - 3;
    expect(counted).toBeGreaterThanOrEqual(exact(json));
    expect(counted).toBeLessThanOrEqual(exact(json) * 1.3);
  });

  it("gives only the primer for no messages, and ignores a missing role or content", async () => {
    expect(await countPromptTokens([], "o200k_base")).toBe(3);
    expect(await countPromptTokens([{}], "o200k_base")).toBe(6);
  });

  it("uses the encoding it is given", async () => {
    const messages = [{ role: "user", content: "こんにちは世界、今日はいい天気ですね" }];
    const o = await countPromptTokens(messages, "o200k_base");
    const c = await countPromptTokens(messages, "cl100k_base");
    expect(o).toBe(7 + exact(messages[0]!.content, o200k));
    expect(c).toBe(7 + exact(messages[0]!.content, cl100k));
    expect(o).not.toBe(c);
  });
});

describe("countTextTokens", () => {
  it("matches js-tiktoken on ordinary text in both encodings", async () => {
    const text = "The quick brown fox jumps over the lazy dog. 東京は日本の首都です。";
    expect(await countTextTokens(text, "o200k_base")).toBe(exact(text, o200k));
    expect(await countTextTokens(text, "cl100k_base")).toBe(exact(text, cl100k));
    expect(exact(text, o200k)).not.toBe(exact(text, cl100k));
  });

  it("is zero for empty text", async () => {
    expect(await countTextTokens("", "o200k_base")).toBe(0);
    expect(countShortTextTokens("", "o200k_base")).toBe(0);
  });

  it("counts long prose in slices without changing the count", async () => {
    const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta"];
    const text = Array.from({ length: 6000 }, (_, i) => words[(i * 7) % words.length]! + (i % 13)).join(" ");
    expect(text.length).toBeGreaterThan(20_000);
    expect(await countTextTokens(text, "o200k_base")).toBe(exact(text));
  });

  it("counts a 100k-character run in slices, letting other work run in between, and the answer is sane", async () => {
    const text = "x".repeat(100_000);
    // Other work waiting on the event loop: it runs only when counting yields.
    let ticks = 0;
    let counting = true;
    const tick = () => {
      if (!counting) return;
      ticks++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const tokens = await countTextTokens(text, "o200k_base");
    counting = false;
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(Number.isFinite(tokens)).toBe(true);
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(100_000);
  });

  it("extrapolates past the exact limit to close to the real count", async () => {
    const text = "word ".repeat(100_000); // 500,000 characters, one token per word
    const tokens = await countTextTokens(text, "o200k_base");
    expect(tokens).toBeGreaterThan(99_000);
    expect(tokens).toBeLessThan(101_000);
  });

  it("returns the same number from the cache, per encoding", async () => {
    const text = "Cache me if you can: the same words, counted twice, with ünïcödé.";
    const first = await countTextTokens(text, "cl100k_base");
    expect(await countTextTokens(text, "cl100k_base")).toBe(first);
    expect(countShortTextTokens(text, "cl100k_base")).toBe(first);
    // A count cached for one encoding is never served for the other.
    expect(await countTextTokens(text, "o200k_base")).toBe(exact(text, o200k));
  });

  it("treats special-token text as plain text", async () => {
    const text = "before <|endoftext|> after <|im_start|>";
    expect(await countTextTokens(text, "o200k_base")).toBe(exact(text));
    expect(await countTextTokens("<|endoftext|>", "cl100k_base")).toBeGreaterThan(1);
    expect(await countPromptTokens([{ role: "user", content: "<|endoftext|>", name: "<|fim_prefix|>" }], "o200k_base")).toBeGreaterThan(8);
  });
});

describe("defaultEncoding", () => {
  it("uses cl100k for the gpt-4 and gpt-3.5 families and o200k for the rest", () => {
    const cases = {
      "gpt-4": "cl100k_base",
      "gpt-4-turbo": "cl100k_base",
      "gpt-4-0613": "cl100k_base",
      "gpt-3.5-turbo": "cl100k_base",
      "gpt-4o": "o200k_base",
      "gpt-4o-mini": "o200k_base",
      "gpt-4.1": "o200k_base",
      "gpt-4.5-preview": "o200k_base",
      "o3-mini": "o200k_base",
      "claude-3-haiku": "o200k_base",
    };
    for (const [model, encoding] of Object.entries(cases)) expect([model, defaultEncoding(model)]).toEqual([model, encoding]);
  });
});

describe("counting a prompt again", () => {
  it("gives the same count from what it remembers, and a new one once a message changes", async () => {
    const long = "lorem ipsum dolor sit amet ".repeat(400); // over one slice: counted asynchronously the first time
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: long },
    ];
    const first = await countPromptTokens(messages, "o200k_base");
    expect(await countPromptTokens(messages, "o200k_base")).toBe(first);
    expect(await countPromptTokens(messages, "cl100k_base")).toBe(3 + 3 + exact("system", cl100k) + exact("You are terse.", cl100k) + (await countTextTokens(long, "cl100k_base")) + 3 + exact("user", cl100k));

    messages[0]!.content = "You are verbose and helpful.";
    const changed = await countPromptTokens(messages, "o200k_base");
    expect(changed - first).toBe(exact("You are verbose and helpful.") - exact("You are terse."));
  });

  it("keeps what it remembers out of sight: a copy of a message with new content is counted anew, a frozen one still counted", async () => {
    const message = { role: "user", content: "What is the capital of France?" };
    const first = await countPromptTokens([message], "o200k_base");
    expect(JSON.stringify(message)).toBe('{"role":"user","content":"What is the capital of France?"}');
    expect(Object.keys(message)).toEqual(["role", "content"]);
    const copy = { ...message, content: "And of Spain, and of Portugal?" };
    expect(Object.getOwnPropertySymbols(copy)).toEqual([]);
    expect((await countPromptTokens([copy], "o200k_base")) - first).toBe(exact(copy.content) - exact(message.content));
    expect(await countPromptTokens([Object.freeze({ ...message })], "o200k_base")).toBe(first);
  });

  it("counts again the parts of a content edited in place", async () => {
    const parts = [{ type: "text", text: "short" }];
    const messages = [{ role: "user", content: parts }];
    const before = await countPromptTokens(messages, "o200k_base");
    parts[0]!.text = "a much longer text than before, edited in place";
    expect((await countPromptTokens(messages, "o200k_base")) - before).toBe(exact(parts[0]!.text) - exact("short"));
  });
});

describe("the count cache", () => {
  it("tells apart texts of the same length whose sampled characters agree", async () => {
    // 960 characters: the fingerprint reads every 30th, so these differ only where it does not look.
    const base = "word ".repeat(192);
    const a = `${base.slice(0, 5)}aaaa${base.slice(9)}`;
    const b = `${base.slice(0, 5)}b b ${base.slice(9)}`;
    expect(a.length).toBe(b.length);
    expect(await countTextTokens(a, "o200k_base")).toBe(exact(a));
    expect(await countTextTokens(b, "o200k_base")).toBe(exact(b));
    expect(await countTextTokens(a, "o200k_base")).toBe(exact(a));
  });
});
