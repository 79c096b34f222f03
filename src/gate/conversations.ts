import { countTextTokens } from "../tokens/count.js";
import type { ObjectDirectory, StoredObject } from "./objects.js";

/**
 * A conversation's size, as tollgate sees its items pass: a Responses request that continues it is
 * held for that much input (src/server/admit.ts). Items are counted by their JSON text, as the
 * Responses input counts items of no known type; a turn answered through tollgate replaces the
 * count with the upstream's own (src/endpoints/previous-response.ts).
 */

/** Tokens of the `items` of a request body (a new conversation's, or items added to one). */
async function itemsTokens(body: unknown): Promise<number> {
  const items = (body as { items?: unknown } | null)?.items;
  return Array.isArray(items) && items.length > 0 ? countTextTokens(JSON.stringify(items), "o200k_base") : 0;
}

const ITEMS_PATH = /^\/conversations\/[^/]+\/items$/;

/**
 * After a conversation call the upstream accepted: a new conversation is as large as its items; items
 * added to a known conversation add to its size. A conversation whose size is unknown stays so.
 */
export async function countConversationItems(objects: ObjectDirectory, method: string, path: string, body: unknown, answer: unknown, object: StoredObject | undefined): Promise<void> {
  if (method !== "POST") return;
  if (path === "/conversations") {
    const id = (answer as { id?: unknown } | null)?.id;
    const found = typeof id === "string" ? await objects.find(id) : undefined;
    if (found) await objects.update(id as string, { ...found, tokens: await itemsTokens(body) });
    return;
  }
  const id = path.split("/")[2]!;
  if (ITEMS_PATH.test(path) && object?.tokens !== undefined) await objects.update(id, { ...object, tokens: object.tokens + (await itemsTokens(body)) });
}
