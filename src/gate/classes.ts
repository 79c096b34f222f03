/**
 * Every path tollgate forwards belongs to a named endpoint class, and each class has a policy:
 * `priced` classes are the pipeline's own routes (SPEC 3); `metered` ones can spend money tollgate
 * cannot price before the call, so they hold a fixed amount and settle from the answer; `free` ones
 * spend nothing (files, reads and deletes of stored objects). A path in no class is unknown: refused
 * unless `passthrough.unknown: allow`.
 *
 *   classifyPath("POST", "/images/generations")  // { class: "images", kind: "metered", spends: true, ... }
 *   classifyPath("GET", "/files/file-1/content") // { class: "files", kind: "free", objectId: "file-1", ... }
 */

export type ClassKind = "priced" | "metered" | "free";

/** What a class may do (`passthrough.endpoints.<class>`): refused, passed without a budget, or held at `hold` USD. */
export type EndpointPolicy = "off" | "free" | { hold: number };

/** Each class, what kind it is and its policy when the configuration names none. */
export const ENDPOINT_CLASSES = {
  "chat.completions": { kind: "priced" },
  responses: { kind: "priced" },
  completions: { kind: "priced" },
  embeddings: { kind: "priced" },
  // Anthropic's Messages API (and its free count_tokens).
  messages: { kind: "priced" },
  images: { kind: "metered", policy: { hold: 0.5 } },
  audio: { kind: "metered", policy: { hold: 0.25 } },
  videos: { kind: "metered", policy: { hold: 2 } },
  assistants: { kind: "metered", policy: { hold: 0.5 } },
  containers: { kind: "metered", policy: { hold: 0.03 } },
  // The budgeted way to run batches is `tollgate batch`; fine-tuning and realtime sessions bill for
  // hours or minutes that no HTTP answer reports, and a realtime secret is a credential of its own.
  batches: { kind: "metered", policy: "off" },
  fine_tuning: { kind: "metered", policy: "off" },
  realtime: { kind: "metered", policy: "off" },
  files: { kind: "free", policy: "free" },
  uploads: { kind: "free", policy: "free" },
  models: { kind: "free", policy: "free" },
  moderations: { kind: "free", policy: "free" },
  stored: { kind: "free", policy: "free" },
  conversations: { kind: "free", policy: "free" },
  vector_stores: { kind: "free", policy: "free" },
  threads: { kind: "free", policy: "free" },
} as const satisfies Record<string, { kind: "priced" } | { kind: Exclude<ClassKind, "priced">; policy: EndpointPolicy }>;

export type EndpointClassName = keyof typeof ENDPOINT_CLASSES;
export const CLASS_NAMES = Object.keys(ENDPOINT_CLASSES) as EndpointClassName[];
/** What `keys[].endpoints` may list: a class, or every class of a kind. */
export const ENDPOINT_GRANTS: readonly string[] = [...CLASS_NAMES, "priced", "metered", "free"];

interface RouteSpec {
  /** `READ`: GET, HEAD and DELETE (reading and deleting a stored object). */
  method: "GET" | "POST" | "DELETE" | "READ";
  /** Under /v1: fixed segments, `{id}` (the object the call is about), `{x}` (any segment), `{*}` (any tail). */
  path: string;
  class: EndpointClassName;
  /** The call can spend money: a metered class holds for it. */
  spends?: true;
  /** The answer is a new object (its `id`) owned by the caller. */
  creates?: true;
  /** The answer is a list of objects, shown only where the caller owns them. */
  lists?: true;
}

/**
 * The OpenAI API's paths, most specific first. Reads and deletes of an object's tree are one route
 * each; every call that changes or runs something is listed by name, so an action the gate does not
 * know (one that may spend) is unknown, never a free read.
 */
const ROUTES: RouteSpec[] = [
  { method: "POST", path: "chat/completions", class: "chat.completions" },
  { method: "POST", path: "responses", class: "responses" },
  { method: "POST", path: "completions", class: "completions" },
  { method: "POST", path: "embeddings", class: "embeddings" },
  { method: "POST", path: "messages", class: "messages" },
  { method: "POST", path: "messages/count_tokens", class: "messages" },

  { method: "POST", path: "images/generations", class: "images", spends: true },
  { method: "POST", path: "images/edits", class: "images", spends: true },
  { method: "POST", path: "images/variations", class: "images", spends: true },
  { method: "POST", path: "audio/speech", class: "audio", spends: true },
  { method: "POST", path: "audio/transcriptions", class: "audio", spends: true },
  { method: "POST", path: "audio/translations", class: "audio", spends: true },
  { method: "POST", path: "videos", class: "videos", spends: true, creates: true },
  { method: "GET", path: "videos", class: "videos", lists: true },
  { method: "POST", path: "videos/edits", class: "videos", spends: true, creates: true },
  { method: "POST", path: "videos/extensions", class: "videos", spends: true, creates: true },
  { method: "POST", path: "videos/characters", class: "videos", spends: true, creates: true },
  { method: "READ", path: "videos/characters/{id}", class: "videos" },
  { method: "POST", path: "videos/{id}/remix", class: "videos", spends: true, creates: true },
  { method: "READ", path: "videos/{id}/{*}", class: "videos" },
  { method: "POST", path: "threads/runs", class: "assistants", spends: true, creates: true },
  { method: "POST", path: "threads/{id}/runs", class: "assistants", spends: true },
  { method: "POST", path: "threads/{id}/runs/{x}/submit_tool_outputs", class: "assistants", spends: true },
  { method: "POST", path: "containers", class: "containers", spends: true, creates: true },
  { method: "GET", path: "containers", class: "containers", lists: true },
  { method: "POST", path: "containers/{id}/files", class: "containers" },
  { method: "READ", path: "containers/{id}/{*}", class: "containers" },
  { method: "POST", path: "batches", class: "batches", spends: true, creates: true },
  { method: "GET", path: "batches", class: "batches", lists: true },
  { method: "POST", path: "batches/{id}/cancel", class: "batches" },
  { method: "READ", path: "batches/{id}/{*}", class: "batches" },
  { method: "POST", path: "fine_tuning/jobs", class: "fine_tuning", spends: true, creates: true },
  { method: "GET", path: "fine_tuning/jobs", class: "fine_tuning", lists: true },
  { method: "POST", path: "fine_tuning/jobs/{id}/cancel", class: "fine_tuning" },
  { method: "POST", path: "fine_tuning/jobs/{id}/pause", class: "fine_tuning" },
  { method: "POST", path: "fine_tuning/jobs/{id}/resume", class: "fine_tuning", spends: true },
  { method: "READ", path: "fine_tuning/jobs/{id}/{*}", class: "fine_tuning" },
  { method: "DELETE", path: "models/{id}", class: "fine_tuning" },
  { method: "POST", path: "realtime/client_secrets", class: "realtime", spends: true },
  { method: "POST", path: "realtime/sessions", class: "realtime", spends: true },
  { method: "POST", path: "realtime/transcription_sessions", class: "realtime", spends: true },
  { method: "POST", path: "realtime/calls", class: "realtime", spends: true },
  { method: "POST", path: "realtime/calls/{x}/{*}", class: "realtime", spends: true },

  { method: "POST", path: "files", class: "files", creates: true },
  { method: "GET", path: "files", class: "files", lists: true },
  { method: "READ", path: "files/{id}/{*}", class: "files" },
  { method: "POST", path: "uploads", class: "uploads", creates: true },
  { method: "POST", path: "uploads/{id}/parts", class: "uploads" },
  { method: "POST", path: "uploads/{id}/complete", class: "uploads" },
  { method: "POST", path: "uploads/{id}/cancel", class: "uploads" },
  { method: "GET", path: "models", class: "models" },
  { method: "GET", path: "models/{x}", class: "models" },
  { method: "POST", path: "moderations", class: "moderations" },
  { method: "GET", path: "chat/completions", class: "stored", lists: true },
  { method: "POST", path: "chat/completions/{id}", class: "stored" },
  { method: "READ", path: "chat/completions/{id}/{*}", class: "stored" },
  { method: "POST", path: "responses/input_tokens", class: "stored" },
  { method: "POST", path: "responses/{id}/cancel", class: "stored" },
  { method: "READ", path: "responses/{id}/{*}", class: "stored" },
  { method: "POST", path: "conversations", class: "conversations", creates: true },
  { method: "POST", path: "conversations/{id}", class: "conversations" },
  { method: "POST", path: "conversations/{id}/items", class: "conversations" },
  { method: "READ", path: "conversations/{id}/{*}", class: "conversations" },
  { method: "POST", path: "vector_stores", class: "vector_stores", creates: true },
  { method: "GET", path: "vector_stores", class: "vector_stores", lists: true },
  { method: "POST", path: "vector_stores/{id}", class: "vector_stores" },
  { method: "POST", path: "vector_stores/{id}/search", class: "vector_stores" },
  { method: "POST", path: "vector_stores/{id}/files", class: "vector_stores" },
  { method: "POST", path: "vector_stores/{id}/files/{x}", class: "vector_stores" },
  { method: "POST", path: "vector_stores/{id}/file_batches", class: "vector_stores" },
  { method: "POST", path: "vector_stores/{id}/file_batches/{x}/cancel", class: "vector_stores" },
  { method: "READ", path: "vector_stores/{id}/{*}", class: "vector_stores" },
  { method: "POST", path: "assistants", class: "threads", creates: true },
  { method: "GET", path: "assistants", class: "threads", lists: true },
  { method: "POST", path: "assistants/{id}", class: "threads" },
  { method: "READ", path: "assistants/{id}/{*}", class: "threads" },
  { method: "POST", path: "threads", class: "threads", creates: true },
  { method: "POST", path: "threads/{id}", class: "threads" },
  { method: "POST", path: "threads/{id}/messages", class: "threads" },
  { method: "POST", path: "threads/{id}/messages/{x}", class: "threads" },
  { method: "POST", path: "threads/{id}/runs/{x}", class: "threads" },
  { method: "POST", path: "threads/{id}/runs/{x}/cancel", class: "threads" },
  { method: "READ", path: "threads/{id}/{*}", class: "threads" },
];

/** What the gate knows of one call. */
export interface Classified {
  class: EndpointClassName;
  kind: ClassKind;
  spends: boolean;
  creates: boolean;
  lists: boolean;
  /** The stored object the call reads, changes, deletes or continues; undefined for collections. */
  objectId: string | undefined;
}

export type Classification =
  | { known: true; endpoint: Classified }
  /** `miscased`: the path is a known one spelt in another case, which names no object and reaches nobody. */
  | { known: false; miscased: boolean };

interface CompiledRoute {
  spec: RouteSpec;
  exact: RegExp;
  loose: RegExp;
  hasObject: boolean;
}

function compile(spec: RouteSpec): CompiledRoute {
  const source = spec.path
    .split("/")
    .map((segment) => {
      if (segment === "{id}") return "/([^/]+)";
      if (segment === "{x}") return "/[^/]+";
      if (segment === "{*}") return "(?:/.*)?";
      return `/${segment}`;
    })
    .join("");
  return { spec, exact: new RegExp(`^${source}$`), loose: new RegExp(`^${source}$`, "i"), hasObject: spec.path.includes("{id}") };
}

const COMPILED = ROUTES.map(compile);

/**
 * The class of a call, from its method and its canonical path under /v1 (`/files/file-1`). A path
 * that matches a route only when case is ignored is `miscased`: the caller gets a 400, so no
 * spelling of a priced path slips past its pipeline.
 */
export function classifyPath(method: string, path: string): Classification {
  let found: { route: CompiledRoute; match: RegExpExecArray } | undefined;
  for (const route of COMPILED) {
    if (!methodFits(route.spec.method, method)) continue;
    const match = route.exact.exec(path);
    // A route this path matches only when case is ignored: refused, whatever else it matches.
    if (!match) {
      if (route.loose.test(path)) return { known: false, miscased: true };
      continue;
    }
    found ??= { route, match };
  }
  if (!found) return { known: false, miscased: false };
  const { spec, hasObject } = found.route;
  return {
    known: true,
    endpoint: {
      class: spec.class,
      kind: ENDPOINT_CLASSES[spec.class].kind,
      spends: spec.spends === true,
      creates: spec.creates === true,
      lists: spec.lists === true,
      objectId: hasObject ? decodeSegment(found.match[1]!) : undefined,
    },
  };
}

function methodFits(route: RouteSpec["method"], method: string): boolean {
  if (route === "READ") return method === "GET" || method === "HEAD" || method === "DELETE";
  return route === method || (method === "HEAD" && route === "GET");
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The policy a class runs under: the configured one, else its default. Priced classes are always priced. */
export function policyOf(name: EndpointClassName, configured: Readonly<Record<string, EndpointPolicy>>): EndpointPolicy | "priced" {
  const known = ENDPOINT_CLASSES[name];
  return known.kind === "priced" ? "priced" : (configured[name] ?? known.policy);
}

/** Whether a key's `endpoints` allow-list (undefined: everything) lets it call a class. */
export function grantAllows(grants: readonly string[] | undefined, name: EndpointClassName): boolean {
  return grants === undefined || grants.includes(name) || grants.includes(ENDPOINT_CLASSES[name].kind);
}
