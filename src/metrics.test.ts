import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";

const lines = async (m: Metrics, name: string) => (await m.registry.getSingleMetricAsString(name)).split("\n").filter((l) => l.startsWith(name));

describe("Metrics.countRequest", () => {
  it("shows every request's counts at each scrape, a label set seen at zero included", async () => {
    const m = new Metrics();
    m.countRequest("economy", "mini", 200, { promptTokens: 10, cachedTokens: 0, completionTokens: 3 }, 0.5);
    m.countRequest("economy", "mini", 200, { promptTokens: 5, cachedTokens: 0, completionTokens: 2 }, 0.25);
    m.countRequest("premium", "big", 502, { promptTokens: 0, cachedTokens: 0, completionTokens: 0 }, 0);
    expect(await lines(m, "tollgate_requests_total")).toEqual([
      'tollgate_requests_total{tier="economy",model="mini",status="200"} 2',
      'tollgate_requests_total{tier="premium",model="big",status="502"} 1',
    ]);
    expect(await lines(m, "tollgate_tokens_total")).toEqual([
      'tollgate_tokens_total{direction="input",model="mini"} 15',
      'tollgate_tokens_total{direction="cached",model="mini"} 0',
      'tollgate_tokens_total{direction="output",model="mini"} 5',
    ]);
    m.countRequest("economy", "mini", 200, { promptTokens: 1, cachedTokens: 1, completionTokens: 1 }, 0.25);
    expect(await lines(m, "tollgate_requests_total")).toContain('tollgate_requests_total{tier="economy",model="mini",status="200"} 3');
    expect(await lines(m, "tollgate_tokens_total")).toContain('tollgate_tokens_total{direction="cached",model="mini"} 1');
    expect(await lines(m, "tollgate_cost_usd_total")).toEqual(['tollgate_cost_usd_total{model="mini"} 1']);
  });
});
