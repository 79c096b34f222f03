import { describe, expect, it } from "vitest";
import { type Config } from "../config/schema.js";
import { configSchema } from "../config/resolve.js";
import { ProxyError } from "../errors.js";
import { testConfig, testConfigInput } from "../../test/support/proxy.js";
import { compileRules, type RequestFeatures } from "./classify.js";
import { createRouter, type RouteInput, type Router } from "./route.js";
import { isTier, lowerTier, tierModels, tiersAtOrBelow } from "./tiers.js";

const UPSTREAM = "http://upstream.test/v1";

function routerFor(config: Config): Router {
  return createRouter(config, compileRules(config.routing.rules), tierModels(config));
}

function features(lastUserText: string): RequestFeatures {
  return { lastUserText, systemText: "", promptTokens: 10, messageCount: 1, historyChars: 0, hasTools: false, hasImages: false, jsonOutput: false, requestType: "chat" };
}

/**
 * Modes, caps and tiers are tested with the keyword classes, which a reader can check by eye: the
 * scored router is the default since issue 14, so these tests switch the heuristics on and the
 * score's tiers off, and leave the score itself out of the decisions they compare (it has its own
 * tests in scored-route.test.ts).
 */
const KEYWORDS = { heuristics: true, scored: false };
const keywordConfig = (routing: Record<string, unknown> = {}) => testConfig(UPSTREAM, { routing: { ...KEYWORDS, ...routing } });

function route(text: string, input: Partial<RouteInput> = {}, config = keywordConfig()) {
  const { score, ...decision } = routerFor(config).route({ clientModel: "auto", features: features(text), ...input });
  expect(score).toBeGreaterThan(0);
  return decision;
}

function routeError(text: string, input: Partial<RouteInput>, config = keywordConfig()): ProxyError {
  try {
    route(text, input, config);
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error("expected routing to fail");
}

const COMPLEX = "analyze complex interactions between these systems";
const withClientModel = (mode: "ceiling" | "pin" | "ignore") => keywordConfig({ client_model: mode });

describe("auto routing", () => {
  it("routes a greeting to the economy default model", () => {
    expect(route("hi")).toEqual({ tier: "economy", model: "gpt-4o-mini", route: "default", candidates: ["gpt-4o-mini", "claude-3-haiku"] });
  });

  it("routes premium keywords to the premium default, candidates falling through every lower tier", () => {
    expect(route(COMPLEX)).toEqual({
      tier: "premium",
      model: "gpt-4-turbo",
      route: "heuristic:analyze complex",
      candidates: ["gpt-4-turbo", "o3-mini", "gpt-4o", "claude-3-sonnet", "gpt-4o-mini", "claude-3-haiku"],
    });
  });

  it("routes standard keywords to standard", () => {
    expect(route("explain closures")).toMatchObject({ tier: "standard", model: "gpt-4o", route: "heuristic:explain" });
  });

  it("treats every configured auto alias as auto", () => {
    const config = keywordConfig({ auto_models: ["auto", "tollgate/auto"] });
    expect(route("explain", { clientModel: "tollgate/auto" }, config)).toMatchObject({ tier: "standard", model: "gpt-4o" });
  });

  it("applies YAML rules before the heuristics", () => {
    const config = keywordConfig({ rules: [{ name: "quick", when: { keywords: ["quick"] }, tier: "economy" }] });
    expect(route("quick: explain closures", {}, config)).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "quick" });
  });
});

describe("client model modes", () => {
  it("ceiling: never goes above the client's model tier, and keeps the exact model at its tier", () => {
    expect(route(COMPLEX, { clientModel: "gpt-4o-mini" })).toEqual({
      tier: "economy",
      model: "gpt-4o-mini",
      route: "client-model",
      candidates: ["gpt-4o-mini", "claude-3-haiku"],
    });
    expect(route(COMPLEX, { clientModel: "claude-3-haiku" })).toMatchObject({ model: "claude-3-haiku", candidates: ["claude-3-haiku", "gpt-4o-mini"] });
  });

  it("ceiling: an equal class keeps the exact model, even when it is not the tier's default", () => {
    expect(route("explain it", { clientModel: "claude-3-sonnet" })).toEqual({
      tier: "standard",
      model: "claude-3-sonnet",
      route: "client-model",
      candidates: ["claude-3-sonnet", "gpt-4o", "gpt-4o-mini", "claude-3-haiku"],
    });
  });

  it("ceiling: a lower class goes down to that tier's default", () => {
    expect(route("hi", { clientModel: "o3-mini" })).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "default" });
    expect(route("explain", { clientModel: "gpt-4-turbo" })).toMatchObject({ tier: "standard", model: "gpt-4o", route: "heuristic:explain" });
  });

  it("pin: keeps the client's model whatever the prompt", () => {
    expect(route("hi", { clientModel: "o3-mini" }, withClientModel("pin"))).toMatchObject({ tier: "premium", model: "o3-mini", route: "client-model" });
  });

  it("ignore: classifies as if the client asked for auto", () => {
    expect(route(COMPLEX, { clientModel: "gpt-4o-mini" }, withClientModel("ignore"))).toMatchObject({ tier: "premium", model: "gpt-4-turbo" });
  });

  it("unknown_models: reject refuses an unknown model with model_not_found naming the configured ones", () => {
    const err = routeError("hi", { clientModel: "gpt-9" }, keywordConfig({ unknown_models: "reject" }));
    expect(err.code).toBe("model_not_found");
    expect(err.status).toBe(404);
    expect(err.param).toBe("model");
    expect(err.message).toContain("gpt-9");
    for (const name of ["auto", "gpt-4o-mini", "gpt-4o", "gpt-4-turbo", "claude-3-haiku", "claude-3-sonnet", "o3-mini"]) {
      expect(err.message).toContain(name);
    }
  });

  it("unknown_models: reject refuses an unknown model in every mode", () => {
    for (const mode of ["ignore", "pin"] as const) {
      expect(routeError("hi", { clientModel: "gpt-9" }, keywordConfig({ client_model: mode, unknown_models: "reject" })).code).toBe("model_not_found");
    }
  });

  it("routes an unknown model as auto by default, and says so", () => {
    expect(route(COMPLEX, { clientModel: "gpt-9" })).toMatchObject({ tier: "premium", model: "gpt-4-turbo", route: "unknown-model:gpt-9" });
    expect(route("hi", { clientModel: "gpt-9" }, withClientModel("pin"))).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "unknown-model:gpt-9" });
  });

  it("an unknown model the catalogue prices is a ceiling: never a dearer tier than its price", () => {
    const config = keywordConfig();
    // gpt-4o-mini's rates (0.15 + 0.6) are within 1.0; gpt-4o's (2.5 + 10) are not.
    const cheap = createRouter(config, compileRules([]), tierModels(config), { cataloguePrice: (m) => (m === "cheap-model" ? { input: 0.5, output: 0.5 } : undefined) });
    expect(cheap.route({ clientModel: "cheap-model", features: features(COMPLEX) })).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "unknown-model:cheap-model" });
    const dear = createRouter(config, compileRules([]), tierModels(config), { cataloguePrice: () => ({ input: 5, output: 15 }) });
    expect(dear.route({ clientModel: "dear-model", features: features(COMPLEX) })).toMatchObject({ tier: "standard", model: "gpt-4o" });
  });

  it("keeps a header-safe route label for any unknown name", () => {
    const { route: label } = route("hi", { clientModel: `m\u00e9\nx${"y".repeat(100)}` });
    expect(label).toBe(`unknown-model:m??x${"y".repeat(60)}`);
  });

  it("refuses a configured embedding model for chat, whatever unknown_models says", () => {
    const config = testConfig(UPSTREAM, { routing: KEYWORDS, models: { ...testConfigInput(UPSTREAM).models, "emb": { upstream: "openai", tier: "economy", kind: "embedding", price: { input: 0.02, output: 0 } } } });
    expect(routeError("hi", { clientModel: "emb" }, config).message).toMatch(/not a chat model/);
  });
});

describe("tier caps and forcing", () => {
  it("lowers the result to the key's max_tier", () => {
    expect(route(COMPLEX, { keyMaxTier: "standard" })).toEqual({
      tier: "standard",
      model: "gpt-4o",
      route: "tier-cap",
      candidates: ["gpt-4o", "claude-3-sonnet", "gpt-4o-mini", "claude-3-haiku"],
    });
    expect(route("hi", { keyMaxTier: "standard" })).toMatchObject({ tier: "economy", route: "default" });
  });

  it("lowers the result to x-tollgate-max-tier, read case-insensitively", () => {
    expect(route(COMPLEX, { headerMaxTier: " Economy " })).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "tier-cap" });
    expect(route(COMPLEX, { headerMaxTier: "premium" })).toMatchObject({ tier: "premium" });
  });

  it("takes the lower of both caps", () => {
    expect(route(COMPLEX, { keyMaxTier: "economy", headerMaxTier: "standard" }).tier).toBe("economy");
    expect(route(COMPLEX, { keyMaxTier: "standard", headerMaxTier: "economy" }).tier).toBe("economy");
  });

  it("caps a pinned model too, dropping the exact model", () => {
    expect(route("hi", { clientModel: "o3-mini", keyMaxTier: "standard" }, withClientModel("pin"))).toMatchObject({
      tier: "standard",
      model: "gpt-4o",
      route: "tier-cap",
    });
  });

  it("x-tollgate-tier forces a tier, within the key's cap and the max-tier header", () => {
    expect(route("hi", { headerTier: "premium" })).toMatchObject({ tier: "premium", model: "gpt-4-turbo", route: "header" });
    expect(route(COMPLEX, { headerTier: "economy" })).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: "header" });
    expect(route("hi", { headerTier: "premium", keyMaxTier: "standard" })).toMatchObject({ tier: "standard", model: "gpt-4o" });
    expect(route("hi", { headerTier: "premium", headerMaxTier: "economy" }).tier).toBe("economy");
  });

  it("rejects an invalid tier header with invalid_request naming the header", () => {
    const forced = routeError("hi", { headerTier: "gold" });
    expect(forced).toMatchObject({ code: "invalid_request", status: 400, param: "x-tollgate-tier" });
    const cap = routeError("hi", { headerMaxTier: "" });
    expect(cap).toMatchObject({ code: "invalid_request", param: "x-tollgate-max-tier" });
  });
});

describe("tiers without models", () => {
  const only = (tiers: Record<string, string[]>) => {
    const input = testConfigInput(UPSTREAM);
    const models = Object.fromEntries(Object.entries(input.models as Record<string, { tier: string }>).filter(([, m]) => Object.keys(tiers).includes(m.tier)));
    return configSchema.parse({ ...input, models, tiers, routing: KEYWORDS });
  };

  it("serves the nearest lower tier when the class has no models", () => {
    const config = only({ economy: ["gpt-4o-mini"], standard: ["gpt-4o"] });
    expect(route(COMPLEX, {}, config)).toMatchObject({ tier: "standard", model: "gpt-4o", candidates: ["gpt-4o", "gpt-4o-mini"] });
  });

  it("serves the nearest higher tier when nothing lower has models", () => {
    const config = only({ standard: ["gpt-4o"], premium: ["gpt-4-turbo"] });
    expect(route("hi", {}, config)).toMatchObject({ tier: "standard", model: "gpt-4o", candidates: ["gpt-4o"] });
  });
});

describe("tier helpers", () => {
  it("orders tiers by rank, not by name", () => {
    expect(lowerTier("premium", "economy")).toBe("economy");
    expect(lowerTier("standard", "premium")).toBe("standard");
    expect(lowerTier("economy", "standard")).toBe("economy");
    expect(tiersAtOrBelow("premium")).toEqual(["premium", "standard", "economy"]);
    expect(tiersAtOrBelow("standard")).toEqual(["standard", "economy"]);
    expect(tiersAtOrBelow("economy")).toEqual(["economy"]);
  });

  it("recognises only the three tier names", () => {
    expect(["economy", "standard", "premium", "Premium", "gold", ""].map(isTier)).toEqual([true, true, true, false, false, false]);
  });

  it("takes each tier's models from tiers:, else from the models' declared tier", () => {
    const config = testConfig(UPSTREAM, { tiers: { premium: ["o3-mini"] } });
    expect(tierModels(config)).toEqual({
      economy: ["gpt-4o-mini", "claude-3-haiku"],
      standard: ["gpt-4o", "claude-3-sonnet"],
      premium: ["o3-mini"],
    });
  });
});
