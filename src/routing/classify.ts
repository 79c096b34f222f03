import type { Config, RoutingRule, Tier } from "../config/schema.js";

/** What classification looks at, extracted once from the request. */
export interface RequestFeatures {
  lastUserText: string;
  systemText: string;
  promptTokens: number;
  /** The conversation's tokens without system messages and tool definitions; unset: `promptTokens`. */
  messageTokens?: number;
  /** The request's headers, names in lower case (rules may match them). */
  headers?: Readonly<Record<string, string>>;
  messageCount: number;
  /** Characters of the conversation before the last user message, system messages excluded. */
  historyChars: number;
  hasTools: boolean;
  hasImages: boolean;
  jsonOutput: boolean;
  requestType: string;
}

export interface Classification {
  tier: Tier;
  /** Why: the rule's name, `heuristic:<keyword>`, `score:<routing score>` or `default`. */
  route: string;
  /** True when the routing score decided the tier (it then counts toward the target share). */
  scored?: boolean;
}

/** The routing score of a request and the tier it gives, for classification to use after the rules. */
export interface ScoredTier {
  score: number;
  tier: Tier;
}

/** The seed's keyword lists, checked in the last user message. */
export const PREMIUM_KEYWORDS = [
  "analyze complex",
  "detailed analysis",
  "multi-step reasoning",
  "compare and contrast",
  "synthesize",
  "evaluate critically",
];
export const STANDARD_KEYWORDS = ["explain", "summarize", "write", "describe", "outline", "draft"];

/** Whole words only: "describe" must not fire inside "describes", nor "write" inside "rewrite". */
const wholeWord = (k: string) => [k, new RegExp(`(?<![a-z0-9])${k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![a-z0-9])`)] as const;
const PREMIUM_PATTERNS = PREMIUM_KEYWORDS.map(wholeWord);
const STANDARD_PATTERNS = STANDARD_KEYWORDS.map(wholeWord);

/** The first keyword of `patterns` found as a whole word in `lowerText`. */
function keywordIn(lowerText: string, patterns: ReadonlyArray<readonly [string, RegExp]>): string | undefined {
  return patterns.find(([, re]) => re.test(lowerText))?.[0];
}

/** A rule with its text compiled once, when the configuration loads. */
export interface CompiledRule {
  rule: RoutingRule;
  keywords?: string[];
  regex?: RegExp;
  systemContains?: string;
  requestTypes?: string[];
  /** Header names (lower case) and the text each must contain (lower case). */
  headers?: Array<[string, string]>;
}

export function compileRules(rules: RoutingRule[]): CompiledRule[] {
  return rules.map((rule) => ({
    rule,
    keywords: rule.when.keywords?.map((k) => k.toLowerCase()),
    regex: rule.when.regex === undefined ? undefined : new RegExp(rule.when.regex, "i"),
    systemContains: rule.when.system_prompt_contains?.toLowerCase(),
    requestTypes: rule.when.request_type === undefined ? undefined : [rule.when.request_type].flat(),
    headers: rule.when.header === undefined ? undefined : Object.entries(rule.when.header).map(([name, text]) => [name.toLowerCase(), text.toLowerCase()]),
  }));
}

function ruleMatches(compiled: CompiledRule, f: RequestFeatures, lowerText: string): boolean {
  const w = compiled.rule.when;
  if (compiled.keywords) {
    const hit = (k: string) => lowerText.includes(k);
    if (w.keywords_mode === "all" ? !compiled.keywords.every(hit) : !compiled.keywords.some(hit)) return false;
  }
  if (compiled.regex && !compiled.regex.test(f.lastUserText)) return false;
  if (w.min_tokens !== undefined && f.promptTokens < w.min_tokens) return false;
  if (w.max_tokens !== undefined && f.promptTokens > w.max_tokens) return false;
  const messageTokens = f.messageTokens ?? f.promptTokens;
  if (w.min_message_tokens !== undefined && messageTokens < w.min_message_tokens) return false;
  if (w.max_message_tokens !== undefined && messageTokens > w.max_message_tokens) return false;
  if (compiled.headers && !compiled.headers.every(([name, text]) => f.headers?.[name]?.toLowerCase().includes(text) === true)) return false;
  if (w.min_messages !== undefined && f.messageCount < w.min_messages) return false;
  if (w.max_messages !== undefined && f.messageCount > w.max_messages) return false;
  if (w.has_tools !== undefined && f.hasTools !== w.has_tools) return false;
  if (w.has_images !== undefined && f.hasImages !== w.has_images) return false;
  if (w.json_output !== undefined && f.jsonOutput !== w.json_output) return false;
  if (compiled.systemContains !== undefined && !f.systemText.toLowerCase().includes(compiled.systemContains)) return false;
  if (compiled.requestTypes && !compiled.requestTypes.includes(f.requestType)) return false;
  return true;
}

/**
 * YAML rules first (first match wins), then the keyword heuristics when switched on, then the
 * routing score's tier when there is one (`scored`), then the default tier.
 */
export function classifyTier(features: RequestFeatures, rules: CompiledRule[], routing: Config["routing"], scored?: ScoredTier): Classification {
  const lowerText = features.lastUserText.toLowerCase();
  for (const compiled of rules) {
    if (ruleMatches(compiled, features, lowerText)) return { tier: compiled.rule.tier, route: compiled.rule.name };
  }
  if (routing.heuristics) {
    const premium = keywordIn(lowerText, PREMIUM_PATTERNS);
    if (premium) return { tier: "premium", route: `heuristic:${premium}` };
    const standard = keywordIn(lowerText, STANDARD_PATTERNS);
    if (standard) return { tier: "standard", route: `heuristic:${standard}` };
  }
  if (scored) return { tier: scored.tier, route: `score:${scored.score.toFixed(3)}`, scored: true };
  return { tier: routing.default_tier, route: "default" };
}
