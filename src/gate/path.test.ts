import { describe, expect, it } from "vitest";
import { canonicalPath, collapseSlashes, pathProblem } from "./path.js";

describe("canonical paths", () => {
  it("collapses repeated and trailing slashes", () => {
    expect(collapseSlashes("/v1//chat/completions/")).toBe("/v1/chat/completions");
    expect(collapseSlashes("/v1///embeddings//")).toBe("/v1/embeddings");
    expect(collapseSlashes("/")).toBe("/");
    expect(canonicalPath(new Request("http://x/v1/responses/?a=1"))).toBe("/v1/responses");
    expect(canonicalPath(new Request("http://x/v1/files/file-1"))).toBe("/v1/files/file-1");
  });

  it("refuses spellings that decode to another path, and accepts plain ones", () => {
    for (const target of ["/v1/chat%2Fcompletions", "/v1/chat%2fcompletions?x=1", "/v1\\chat\\completions", "/v1/./chat/completions", "/v1/x/../chat/completions", "/v1/%2E%2E/v1/chat/completions", "/v1/%63hat/completions", "/v1/files/%5C", "/v1/files/abc%", "/v1/files/a%zz", "/v1/files/%0a", "/v1/.."]) {
      expect(pathProblem(target), target).toBeDefined();
    }
    for (const target of ["/v1/chat/completions", "/v1/files/file-1/content?x=%2F", "/v1/models/ft:gpt-4o-mini:org::abc", "/v1/models/ft%3Agpt-4o-mini", "/v1/files/file.v2", "/dashboard"]) {
      expect(pathProblem(target), target).toBeUndefined();
    }
  });
});
