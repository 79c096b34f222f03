import { describe, expect, it } from "vitest";
import { usageRecord } from "../../test/support/records.js";
import { CSV_HEADER, csvCell, csvRows } from "./csv.js";

describe("CSV export rows", () => {
  it("quotes what needs quoting and defuses spreadsheet formulas in text", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvCell("=HYPERLINK(\"http://x\")")).toBe("\"'=HYPERLINK(\"\"http://x\"\")\"");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell(-5)).toBe("-5");
    expect(csvCell(null)).toBe("");
    expect(csvCell(false)).toBe("false");
  });

  it("writes one CRLF line per record under the header, money exact in nano-USD and USD", () => {
    const rows = csvRows([usageRecord({ request_id: "a", cost_nano: 1_234_567_890_123, requested_model_cost_nano: 1_234_567_890_124, key_id: null })]);
    const header = CSV_HEADER.trimEnd().split(",");
    const cells = rows.trimEnd().split(",");
    expect(rows.endsWith("\r\n")).toBe(true);
    expect(cells).toHaveLength(header.length);
    const cell = (name: string) => cells[header.indexOf(name)];
    expect(cell("request_id")).toBe("a");
    expect(cell("key_id")).toBe("");
    expect(cell("cost_nano")).toBe("1234567890123");
    expect(cell("cost_usd")).toBe("1234.567890123");
    expect(cell("savings_usd")).toBe("0.000000001");
  });
});
