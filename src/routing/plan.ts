import type { ChatBody } from "../request/parse.js";
import type { Services } from "../services.js";
import type { Caller } from "../server/auth.js";
import { countPromptTokens } from "../tokens/count.js";
import { extractFeatures } from "./features.js";
import type { RouteDecision } from "./route.js";

export interface RoutePlan {
  decision: RouteDecision;
  /** Prompt tokens in the default encoding, as classification saw them. */
  promptTokens: number;
}

export interface RoutingHeaders {
  tier?: string;
  maxTier?: string;
}

/** Counts the prompt and picks the tier and model (SPEC 4.2). */
export async function planRoute(
  services: Services,
  body: ChatBody,
  caller: Caller,
  requestType: string,
  headers: RoutingHeaders,
): Promise<RoutePlan> {
  const promptTokens = await countPromptTokens(body.messages, "o200k_base", body.tools);
  const features = extractFeatures(body, promptTokens, requestType);
  const decision = services.router.route({
    clientModel: body.model,
    features,
    keyMaxTier: caller.maxTier,
    headerMaxTier: headers.maxTier,
    headerTier: headers.tier,
  });
  return { decision, promptTokens };
}
