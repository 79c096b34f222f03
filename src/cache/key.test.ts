import { describe, expect, it } from "vitest";
import type { ChatBody } from "../request/parse.js";
import { cacheKey, cacheScope } from "./key.js";

const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } } }];

function body(extra: Partial<ChatBody> = {}): ChatBody {
  return {
    model: "auto",
    messages: [
      { role: "system", content: "Be terse." },
      { role: "user", content: "Name a prime." },
    ],
    temperature: 0,
    max_tokens: 50,
    ...extra,
  };
}

describe("cacheKey", () => {
  it("is the same for the same request", () => {
    expect(cacheKey("key:app", "gpt-4o-mini", body())).toBe(cacheKey("key:app", "gpt-4o-mini", body()));
  });

  it("is a sha256 in base64url", () => {
    expect(cacheKey("key:app", "gpt-4o-mini", body())).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("does not depend on the order of keys, at any depth", () => {
    const a = body({ tools, response_format: { type: "json_schema", json_schema: { name: "n", schema: { a: 1, b: 2 } } } });
    const b: ChatBody = {
      response_format: { json_schema: { schema: { b: 2, a: 1 }, name: "n" }, type: "json_schema" },
      tools: [{ function: { parameters: { properties: { q: { type: "string" } }, type: "object" }, name: "lookup" }, type: "function" }],
      max_tokens: 50,
      temperature: 0,
      messages: [
        { content: "Be terse.", role: "system" },
        { content: "Name a prime.", role: "user" },
      ],
      model: "auto",
    };
    expect(cacheKey("key:app", "gpt-4o-mini", b)).toBe(cacheKey("key:app", "gpt-4o-mini", a));
  });

  it("differs for another routed model", () => {
    expect(cacheKey("key:app", "gpt-4o", body())).not.toBe(cacheKey("key:app", "gpt-4o-mini", body()));
  });

  it("depends on the routed model, not the model the client asked for", () => {
    expect(cacheKey("key:app", "gpt-4o-mini", body({ model: "auto" }))).toBe(cacheKey("key:app", "gpt-4o-mini", body({ model: "gpt-4o-mini" })));
  });

  it("differs for other messages", () => {
    const base = cacheKey("key:app", "gpt-4o-mini", body());
    expect(cacheKey("key:app", "gpt-4o-mini", body({ messages: [{ role: "user", content: "Name a prime." }] }))).not.toBe(base);
    expect(cacheKey("key:app", "gpt-4o-mini", body({ messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "Name two primes." }] }))).not.toBe(base);
    expect(cacheKey("key:app", "gpt-4o-mini", body({ messages: [{ role: "user", content: "Be terse." }, { role: "user", content: "Name a prime." }] }))).not.toBe(base);
    // Messages in another order are another conversation.
    expect(cacheKey("key:app", "gpt-4o-mini", body({ messages: [{ role: "user", content: "Name a prime." }, { role: "system", content: "Be terse." }] }))).not.toBe(base);
  });

  it.each([
    ["temperature", { temperature: 0.7 }],
    ["max_tokens", { max_tokens: 51 }],
    ["tools", { tools }],
    ["response_format", { response_format: { type: "json_object" } }],
    ["seed", { seed: 42 }],
    ["top_p", { top_p: 0.5 }],
    ["n", { n: 2 }],
  ] as const)("differs for another %s", (_field, extra) => {
    expect(cacheKey("key:app", "gpt-4o-mini", body(extra as Partial<ChatBody>))).not.toBe(cacheKey("key:app", "gpt-4o-mini", body()));
  });

  it("differs between two seeds", () => {
    expect(cacheKey("key:app", "gpt-4o-mini", body({ seed: 1 }))).not.toBe(cacheKey("key:app", "gpt-4o-mini", body({ seed: 2 })));
  });

  it("is the same whatever stream, stream_options, user and metadata say", () => {
    const plain = cacheKey("key:app", "gpt-4o-mini", body());
    expect(cacheKey("key:app", "gpt-4o-mini", body({ stream: true }))).toBe(plain);
    expect(cacheKey("key:app", "gpt-4o-mini", body({ stream: false, stream_options: { include_usage: true } }))).toBe(plain);
    expect(cacheKey("key:app", "gpt-4o-mini", body({ user: "alice" }))).toBe(cacheKey("key:app", "gpt-4o-mini", body({ user: "bob" })));
    expect(cacheKey("key:app", "gpt-4o-mini", body({ metadata: { team: "search" } }))).toBe(plain);
    expect(cacheKey("key:app", "gpt-4o-mini", body({ stream: true, stream_options: { include_usage: false }, user: "carol", metadata: { a: "b" } }))).toBe(plain);
  });

  it("does not mistake a string for the JSON it spells", () => {
    const asString = body({ messages: [{ role: "user", content: '{"a":1}' }] });
    const asObject = body({ messages: [{ role: "user", content: { a: 1 } }] });
    expect(cacheKey("key:app", "gpt-4o-mini", asString)).not.toBe(cacheKey("key:app", "gpt-4o-mini", asObject));
  });

  it("differs between tenants, so no answer and no hit crosses from one to another", () => {
    expect(cacheKey("key:a", "gpt-4o-mini", body())).not.toBe(cacheKey("key:b", "gpt-4o-mini", body()));
  });
});

describe("cacheScope", () => {
  const a = { keyId: "a", team: "research" };
  const b = { keyId: "b", team: "research" };
  it("gives each key its own scope by default", () => {
    expect(cacheScope("key", a)).not.toBe(cacheScope("key", b));
  });
  it("shares within a team, and a key without a team keeps its own", () => {
    expect(cacheScope("team", a)).toBe(cacheScope("team", b));
    expect(cacheScope("team", { keyId: "c", team: null })).toBe("key:c");
  });
  it("shares between everyone when global", () => {
    expect(cacheScope("global", a)).toBe(cacheScope("global", { keyId: null, team: null }));
  });
});
