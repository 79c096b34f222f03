import { describe, expect, it } from "vitest";
import { type Config } from "../config/schema.js";
import { configSchema } from "../config/resolve.js";
import type { ChatBody } from "../request/parse.js";
import { testConfig } from "../../test/support/proxy.js";
import { classifyTier, compileRules, type RequestFeatures } from "./classify.js";
import { extractFeatures, messageText } from "./features.js";

// The keyword heuristics are off by default since issue 14 (at chance on labelled data); these tests switch them on.
const routing: Config["routing"] = testConfig("http://upstream.test/v1", { routing: { heuristics: true } }).routing;

function features(overrides: Partial<RequestFeatures> = {}): RequestFeatures {
  return {
    lastUserText: "hello there",
    systemText: "",
    promptTokens: 10,
    messageCount: 1,
    historyChars: 0,
    hasTools: false,
    hasImages: false,
    jsonOutput: false,
    requestType: "chat",
    ...overrides,
  };
}

/** Rules as the configuration would hold them (defaults filled by the schema). */
function rules(...input: Array<{ name: string; when: Record<string, unknown>; tier: string }>) {
  const config = configSchema.parse({ upstreams: {}, models: {}, routing: { rules: input } });
  return compileRules(config.routing.rules);
}

function classify(f: Partial<RequestFeatures>, compiled = rules(), r: Config["routing"] = routing) {
  return classifyTier(features(f), compiled, r);
}

describe("classifyTier heuristics", () => {
  it("sends a plain greeting to the default tier", () => {
    expect(classify({ lastUserText: "hi" })).toEqual({ tier: "economy", route: "default" });
    expect(classify({ lastUserText: "hi" }, rules(), { ...routing, default_tier: "standard" })).toEqual({ tier: "standard", route: "default" });
  });

  it("sends premium keywords to premium, naming the keyword", () => {
    expect(classify({ lastUserText: "Please ANALYZE COMPLEX trade-offs here" })).toEqual({ tier: "premium", route: "heuristic:analyze complex" });
    expect(classify({ lastUserText: "compare and contrast A and B" }).route).toBe("heuristic:compare and contrast");
  });

  it("sends standard keywords to standard", () => {
    expect(classify({ lastUserText: "explain recursion" })).toEqual({ tier: "standard", route: "heuristic:explain" });
    expect(classify({ lastUserText: "Summarize this" })).toEqual({ tier: "standard", route: "heuristic:summarize" });
  });

  it("prefers premium when both lists match", () => {
    expect(classify({ lastUserText: "explain and synthesize" })).toEqual({ tier: "premium", route: "heuristic:synthesize" });
  });

  it("reads only the last user message, not the system prompt", () => {
    expect(classify({ lastUserText: "hi", systemText: "explain everything in detail" }).route).toBe("default");
  });

  it("can be switched off, and is off by default", () => {
    expect(classify({ lastUserText: "analyze complex data" }, rules(), { ...routing, heuristics: false })).toEqual({ tier: "economy", route: "default" });
    expect(testConfig("http://upstream.test/v1").routing.heuristics).toBe(false);
  });

  it("matches whole words only", () => {
    // The seed matched substrings: "Which of the following best describes" went to standard.
    expect(classify({ lastUserText: "Which of the following best describes the cell?" }).route).toBe("default");
    expect(classify({ lastUserText: "rewrite this; the outlines are drafts" }).route).toBe("default");
    expect(classify({ lastUserText: "Describe, then write: a plan" }).route).toBe("heuristic:write");
    expect(classify({ lastUserText: "(summarize) it" }).route).toBe("heuristic:summarize");
    expect(classify({ lastUserText: "please synthesize." }).route).toBe("heuristic:synthesize");
    expect(classify({ lastUserText: "a detailed analysis-ready table" }).route).toBe("heuristic:detailed analysis");
  });
});

describe("classifyTier with a routing score", () => {
  const scored = { score: 0.4321, tier: "premium" as const };

  it("takes the score's tier after the rules and heuristics, naming the score", () => {
    expect(classifyTier(features({ lastUserText: "hi" }), rules(), routing, scored)).toEqual({ tier: "premium", route: "score:0.432", scored: true });
    expect(classifyTier(features({ lastUserText: "explain it" }), rules(), routing, scored)).toEqual({ tier: "standard", route: "heuristic:explain" });
    const compiled = rules({ name: "cheap", when: { keywords: ["hi"] }, tier: "economy" });
    expect(classifyTier(features({ lastUserText: "hi" }), compiled, routing, scored)).toEqual({ tier: "economy", route: "cheap" });
  });

  it("falls back to the default tier without a score", () => {
    expect(classifyTier(features({ lastUserText: "hi" }), rules(), routing, undefined)).toEqual({ tier: "economy", route: "default" });
  });
});

describe("classifyTier rules", () => {
  it("checks rules in order; the first match wins, before the heuristics", () => {
    const compiled = rules(
      { name: "first", when: { keywords: ["invoice"] }, tier: "standard" },
      { name: "second", when: { keywords: ["invoice"] }, tier: "premium" },
    );
    expect(classify({ lastUserText: "analyze complex invoice" }, compiled)).toEqual({ tier: "standard", route: "first" });
    expect(classify({ lastUserText: "analyze complex data" }, compiled).route).toBe("heuristic:analyze complex");
  });

  it("matches keywords case-insensitively, any by default", () => {
    const compiled = rules({ name: "k", when: { keywords: ["SQL", "Database"] }, tier: "premium" });
    expect(classify({ lastUserText: "my sql query" }, compiled).route).toBe("k");
    expect(classify({ lastUserText: "a DATABASE question" }, compiled).route).toBe("k");
    expect(classify({ lastUserText: "nothing relevant" }, compiled).route).toBe("default");
  });

  it("needs every keyword in mode all", () => {
    const compiled = rules({ name: "k", when: { keywords: ["sql", "index"], keywords_mode: "all" }, tier: "premium" });
    expect(classify({ lastUserText: "SQL without the other word" }, compiled).route).toBe("default");
    expect(classify({ lastUserText: "Which INDEX for this sql?" }, compiled).route).toBe("k");
  });

  it("matches a regex, case-insensitively, on the last user message", () => {
    const compiled = rules({ name: "ticket", when: { regex: "^ticket-\\d+" }, tier: "standard" });
    expect(classify({ lastUserText: "TICKET-42 is broken" }, compiled).route).toBe("ticket");
    expect(classify({ lastUserText: "see ticket-42" }, compiled).route).toBe("default");
    expect(classify({ lastUserText: "hi", systemText: "ticket-1" }, compiled).route).toBe("default");
  });

  it("bounds prompt tokens inclusively", () => {
    const compiled = rules({ name: "mid", when: { min_tokens: 100, max_tokens: 200 }, tier: "standard" });
    expect(classify({ promptTokens: 99 }, compiled).route).toBe("default");
    expect(classify({ promptTokens: 100 }, compiled).route).toBe("mid");
    expect(classify({ promptTokens: 200 }, compiled).route).toBe("mid");
    expect(classify({ promptTokens: 201 }, compiled).route).toBe("default");
  });

  it("bounds the conversation's tokens, without the system prompt and tools, when asked to", () => {
    const compiled = rules({ name: "long-conversation", when: { min_message_tokens: 8000 }, tier: "standard" });
    // An agent: a long preamble of system prompt and tools, a short conversation.
    expect(classify({ promptTokens: 9700, messageTokens: 40 }, compiled).route).toBe("default");
    expect(classify({ promptTokens: 9700, messageTokens: 8000 }, compiled).route).toBe("long-conversation");
    // Without a separate count (a caller that only knows the prompt's), the prompt's is used.
    expect(classify({ promptTokens: 9000 }, compiled).route).toBe("long-conversation");
    const capped = rules({ name: "short", when: { max_message_tokens: 100 }, tier: "economy" });
    expect(classify({ promptTokens: 9700, messageTokens: 100 }, capped).route).toBe("short");
  });

  it("matches request headers by the text they contain, any case, every one listed", () => {
    const compiled = rules({ name: "codex", when: { header: { "User-Agent": "Codex", "x-team": "core" } }, tier: "standard" });
    expect(classify({ headers: { "user-agent": "codex_cli_rs/0.1 (Linux)", "x-team": "core" } }, compiled).route).toBe("codex");
    expect(classify({ headers: { "user-agent": "codex_cli_rs/0.1" } }, compiled).route).toBe("default");
    expect(classify({ headers: { "user-agent": "OpenAI/JS 6.0", "x-team": "core" } }, compiled).route).toBe("default");
    expect(classify({}, compiled).route).toBe("default");
  });

  it("bounds the message count inclusively", () => {
    const compiled = rules({ name: "conv", when: { min_messages: 3, max_messages: 4 }, tier: "standard" });
    expect([2, 3, 4, 5].map((n) => classify({ messageCount: n }, compiled).route)).toEqual(["default", "conv", "conv", "default"]);
  });

  it("matches tools, images and JSON output both ways", () => {
    const tools = rules({ name: "t", when: { has_tools: true }, tier: "standard" });
    expect(classify({ hasTools: true }, tools).route).toBe("t");
    expect(classify({ hasTools: false }, tools).route).toBe("default");
    const noImages = rules({ name: "i", when: { has_images: false }, tier: "standard" });
    expect(classify({ hasImages: false }, noImages).route).toBe("i");
    expect(classify({ hasImages: true }, noImages).route).toBe("default");
    const json = rules({ name: "j", when: { json_output: true }, tier: "premium" });
    expect(classify({ jsonOutput: true }, json)).toEqual({ tier: "premium", route: "j" });
    expect(classify({ jsonOutput: false }, json).route).toBe("default");
  });

  it("matches system prompt text case-insensitively", () => {
    const compiled = rules({ name: "legal", when: { system_prompt_contains: "Legal Assistant" }, tier: "premium" });
    expect(classify({ systemText: "You are a LEGAL ASSISTANT." }, compiled).route).toBe("legal");
    expect(classify({ systemText: "", lastUserText: "legal assistant" }, compiled).route).toBe("default");
  });

  it("matches one request type or a list of them, exactly", () => {
    const one = rules({ name: "cls", when: { request_type: "classification" }, tier: "economy" });
    expect(classify({ requestType: "classification", lastUserText: "explain" }, one)).toEqual({ tier: "economy", route: "cls" });
    expect(classify({ requestType: "chat", lastUserText: "explain" }, one).route).toBe("heuristic:explain");
    const list = rules({ name: "gen", when: { request_type: ["generation", "summary"] }, tier: "standard" });
    expect(classify({ requestType: "summary" }, list).route).toBe("gen");
    expect(classify({ requestType: "Summary" }, list).route).toBe("default");
  });

  it("needs every condition of a rule", () => {
    const compiled = rules({ name: "both", when: { keywords: ["report"], min_tokens: 1000 }, tier: "premium" });
    expect(classify({ lastUserText: "report", promptTokens: 999 }, compiled).route).toBe("default");
    expect(classify({ lastUserText: "nothing", promptTokens: 5000 }, compiled).route).toBe("default");
    expect(classify({ lastUserText: "report", promptTokens: 1000 }, compiled).route).toBe("both");
  });

  it("matches everything with an empty condition", () => {
    expect(classify({}, rules({ name: "all", when: {}, tier: "premium" }))).toEqual({ tier: "premium", route: "all" });
  });
});

describe("extractFeatures", () => {
  const body = (extra: Partial<ChatBody>): ChatBody => ({ model: "auto", messages: [{ role: "user", content: "hi" }], ...extra });

  it("takes the last user message, and joins system and developer text", () => {
    const f = extractFeatures(
      body({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "first question" },
          { role: "assistant", content: "an answer" },
          { role: "developer", content: [{ type: "text", text: "Use JSON." }] },
          { role: "user", content: [{ type: "text", text: "second" }, { type: "text", text: "part" }] },
          { role: "tool", content: "tool output", tool_call_id: "c1" },
        ],
      }),
      42,
      "summary",
    );
    expect(f).toEqual({
      lastUserText: "second\npart",
      systemText: "Be brief.\nUse JSON.",
      promptTokens: 42,
      messageCount: 6,
      // "first question" and "an answer": the turns before the last user message, system and developer excluded.
      historyChars: 23,
      hasTools: false,
      hasImages: false,
      jsonOutput: false,
      requestType: "summary",
    });
  });

  it("sees tools, legacy functions, images and JSON output", () => {
    expect(extractFeatures(body({ tools: [{ type: "function" }] }), 1, "chat").hasTools).toBe(true);
    expect(extractFeatures(body({ tools: [] }), 1, "chat").hasTools).toBe(false);
    expect(extractFeatures(body({ functions: [{ name: "f" }] }), 1, "chat").hasTools).toBe(true);
    const image = { role: "user", content: [{ type: "text", text: "what is it" }, { type: "image_url", image_url: { url: "data:," } }] };
    expect(extractFeatures(body({ messages: [image] }), 1, "chat")).toMatchObject({ hasImages: true, lastUserText: "what is it" });
    expect(extractFeatures(body({ response_format: { type: "json_object" } }), 1, "chat").jsonOutput).toBe(true);
    expect(extractFeatures(body({ response_format: { type: "json_schema", json_schema: {} } }), 1, "chat").jsonOutput).toBe(true);
    expect(extractFeatures(body({ response_format: { type: "text" } }), 1, "chat").jsonOutput).toBe(false);
  });

  it("gives empty text when there is no user message", () => {
    expect(extractFeatures(body({ messages: [{ role: "system", content: "x" }] }), 1, "chat").lastUserText).toBe("");
  });
});

describe("messageText", () => {
  it("reads strings, text parts, and nothing else", () => {
    expect(messageText({ role: "user", content: "plain" })).toBe("plain");
    expect(messageText({ role: "assistant", content: null })).toBe("");
    expect(messageText({ role: "user", content: [{ type: "image_url", image_url: {} }, { type: "text", text: "a" }, null] })).toBe("a");
  });
});
