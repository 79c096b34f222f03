import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { isJsonType, mediaType, multipartBoundary, multipartFields } from "./body.js";

const form = (boundary: string, parts: string[]) => Buffer.from(`${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("")}--${boundary}--\r\n`);

describe("request bodies", () => {
  it("reads the media type and the boundary as the header means them", () => {
    expect(mediaType("Application/JSON; charset=utf-8")).toBe("application/json");
    expect(isJsonType(mediaType("application/merge-patch+json"))).toBe(true);
    expect(isJsonType(mediaType('multipart/form-data; x="application/json"; boundary=XX'))).toBe(false);
    expect(multipartBoundary('multipart/form-data; x="application/json"; boundary=XX')).toBe("XX");
    expect(multipartBoundary('multipart/form-data; boundary="a b"')).toBe("a b");
  });

  it("takes a multipart body's text fields part by part, never a name inside another parameter", () => {
    const body = form("XX", [
      'Content-Disposition: form-data; name="user"; fakename="model"\r\n\r\ngpt-4o-mini',
      "Content-Disposition: form-data; name=model\r\n\r\ngpt-image-1",
      'Content-Disposition: form-data; name="image"; filename="model"\r\nContent-Type: image/png\r\n\r\n\x89PNG name="model"',
    ]);
    const fields = multipartFields(body, "XX");
    expect(fields.get("model")).toBe("gpt-image-1");
    expect(fields.get("user")).toBe("gpt-4o-mini");
    expect(fields.has("image")).toBe(false);
  });

  it("refuses a field given twice and a malformed body", () => {
    const twice = form("B", ['Content-Disposition: form-data; name="n"\r\n\r\n1', 'Content-Disposition: form-data; name="n"\r\n\r\n10']);
    expect(() => multipartFields(twice, "B")).toThrow(ProxyError);
    expect(() => multipartFields(Buffer.from("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"), "B")).toThrow(/malformed/);
    expect(() => multipartFields(Buffer.from("nothing"), "B")).toThrow(/malformed/);
  });
});
