import { describe, expect, it } from "vitest";
import { classifyPath, grantAllows, policyOf } from "./classes.js";

const endpoint = (method: string, path: string) => {
  const found = classifyPath(method, path);
  if (!found.known) throw new Error(`${method} ${path} is unknown`);
  return found.endpoint;
};

describe("endpoint classes", () => {
  it("names the class, kind and object of each call", () => {
    expect(endpoint("POST", "/images/generations")).toMatchObject({ class: "images", kind: "metered", spends: true, objectId: undefined });
    expect(endpoint("POST", "/audio/speech")).toMatchObject({ class: "audio", spends: true });
    expect(endpoint("POST", "/threads/thread_1/runs")).toMatchObject({ class: "assistants", spends: true, objectId: "thread_1" });
    expect(endpoint("GET", "/threads/thread_1/runs/run_1")).toMatchObject({ class: "threads", spends: false, objectId: "thread_1" });
    expect(endpoint("GET", "/files/file-1/content")).toMatchObject({ class: "files", kind: "free", objectId: "file-1" });
    expect(endpoint("POST", "/files")).toMatchObject({ class: "files", creates: true, objectId: undefined });
    expect(endpoint("GET", "/files")).toMatchObject({ class: "files", lists: true });
    expect(endpoint("GET", "/chat/completions")).toMatchObject({ class: "stored", lists: true });
    expect(endpoint("GET", "/chat/completions/chatcmpl-1/messages")).toMatchObject({ class: "stored", objectId: "chatcmpl-1" });
    expect(endpoint("DELETE", "/responses/resp_1")).toMatchObject({ class: "stored", objectId: "resp_1" });
    expect(endpoint("POST", "/batches")).toMatchObject({ class: "batches", kind: "metered", spends: true, creates: true });
    expect(endpoint("POST", "/batches/batch_1/cancel")).toMatchObject({ class: "batches", spends: false, objectId: "batch_1" });
    expect(endpoint("GET", "/models/gpt-4o")).toMatchObject({ class: "models", objectId: undefined });
    expect(endpoint("DELETE", "/models/ft:gpt-4o:org::x")).toMatchObject({ class: "fine_tuning", objectId: "ft:gpt-4o:org::x" });
    expect(endpoint("HEAD", "/files")).toMatchObject({ class: "files" });
    expect(endpoint("POST", "/chat/completions")).toMatchObject({ class: "chat.completions", kind: "priced" });
  });

  it("knows no other path, and tells a known path spelt in another case", () => {
    expect(classifyPath("GET", "/evals")).toEqual({ known: false, miscased: false });
    // Only reads and deletes reach an object's tree; an action the gate does not list is unknown.
    expect(classifyPath("GET", "/files/file-1/whatever")).toMatchObject({ known: true });
    expect(classifyPath("POST", "/files/file-1/whatever")).toEqual({ known: false, miscased: false });
    expect(classifyPath("POST", "/responses/compact")).toEqual({ known: false, miscased: false });
    expect(classifyPath("POST", "/threads/thread_1/runs/run_1/steps")).toEqual({ known: false, miscased: false });
    expect(classifyPath("GET", "/no/such/thing")).toEqual({ known: false, miscased: false });
    expect(classifyPath("POST", "/Chat/Completions")).toEqual({ known: false, miscased: true });
    expect(classifyPath("POST", "/IMAGES/generations")).toEqual({ known: false, miscased: true });
    expect(classifyPath("PUT", "/images/generations")).toEqual({ known: false, miscased: false });
    // A later catch-all does not rescue a path that spells an earlier route in another case.
    expect(classifyPath("POST", "/threads/t1/Runs")).toEqual({ known: false, miscased: true });
    expect(classifyPath("POST", "/videos/v1/Remix")).toEqual({ known: false, miscased: true });
    expect(classifyPath("POST", "/threads/t1/runs/r1/Submit_Tool_Outputs")).toEqual({ known: false, miscased: true });
    // An object id in any case is just an id.
    expect(classifyPath("GET", "/files/FILE-AbC")).toMatchObject({ known: true, endpoint: { objectId: "FILE-AbC" } });
  });

  it("takes a configured policy over the default, and grants by class or kind", () => {
    expect(policyOf("batches", {})).toBe("off");
    expect(policyOf("batches", { batches: { hold: 5 } })).toEqual({ hold: 5 });
    expect(policyOf("images", {})).toEqual({ hold: 0.5 });
    expect(policyOf("files", {})).toBe("free");
    expect(policyOf("embeddings", {})).toBe("priced");
    expect(grantAllows(undefined, "images")).toBe(true);
    expect(grantAllows(["files"], "images")).toBe(false);
    expect(grantAllows(["metered"], "images")).toBe(true);
    expect(grantAllows(["priced"], "embeddings")).toBe(true);
    expect(grantAllows(["priced"], "files")).toBe(false);
  });
});
