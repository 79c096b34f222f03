import { TIERS, type Config, type Price } from "../config/schema.js";
import { tierModels } from "../routing/tiers.js";

/**
 * The resolved models, tiers and prices as plain-text tables, for `tollgate check-config` and the
 * demo's banner:
 *
 *   model       tier     upstream  sent as     input  cached  output  context  max output  price from
 *   gpt-5-mini  economy  openai    gpt-5-mini   0.25   0.025       2   400000      128000  catalogue:genai-prices@0.1.8 (openai/gpt-5-mini)
 */

type Cell = { text: string; right?: boolean };

function renderTable(header: string[], rows: Cell[][], indent = "  "): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: Cell[]) =>
    indent +
    cells
      .map((cell, i) => (cell.right ? cell.text.padStart(widths[i]!) : cell.text.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rightColumns = header.map((_, i) => rows.some((r) => r[i]?.right));
  return [line(header.map((text, i) => ({ text, right: rightColumns[i] }))), ...rows.map(line)].join("\n");
}

/** Prices as given, never rounded: a price table that rounds is a wrong price table. */
const usd = (value: number | undefined): Cell => ({ text: value === undefined ? "-" : String(value), right: true });
const count = (value: number | undefined): Cell => ({ text: value === undefined ? "-" : String(value), right: true });

function hasBatch(price: Price): boolean {
  return price.batch_input !== undefined || price.batch_output !== undefined;
}

/**
 * @param matches the catalogue entry each model was looked up as ("openai/gpt-5-mini"), shown beside
 *   a catalogue price so a surprising match is visible.
 */
export function describeModels(config: Config, matches: Record<string, string> = {}): string {
  const models = Object.entries(config.models);
  const batch = models.some(([, m]) => hasBatch(m.price));
  const header = ["model", "tier", "upstream", "sent as", "input", "cached", "output", ...(batch ? ["batch in", "batch out"] : []), "context", "max output", "price from"];
  const rows: Cell[][] = [];
  for (const [name, m] of models) {
    const match = matches[name];
    const source = m.price_source !== "config" && match ? `${m.price_source} (${match})` : m.price_source;
    rows.push([
      { text: name },
      { text: m.kind === "embedding" ? `${m.tier} (embedding)` : m.tier },
      { text: m.upstream },
      { text: m.upstream_model ?? name },
      usd(m.price.input),
      usd(m.price.cached_input),
      usd(m.price.output),
      ...(batch ? [usd(m.price.batch_input), usd(m.price.batch_output)] : []),
      count(m.context_window),
      count(m.max_output_tokens),
      { text: source },
    ]);
    for (const tier of m.price.long_context ?? []) {
      rows.push([
        { text: "" },
        { text: "" },
        { text: "" },
        { text: `above ${tier.above_input_tokens} input tokens` },
        usd(tier.input),
        usd(tier.cached_input),
        usd(tier.output),
        ...(batch ? [{ text: "" }, { text: "" }] : []),
      ]);
    }
  }
  const tiers = tierModels(config);
  const tierRows = TIERS.map((tier) => [{ text: tier }, { text: tiers[tier].length > 0 ? tiers[tier].join(", ") : "(none)" }]);
  return [
    "models (prices in USD per 1M tokens)",
    renderTable(header, rows),
    "",
    "tiers (first model is the default; the rest are alternatives for budget downgrade and fallback)",
    renderTable(["tier", "models"], tierRows),
  ].join("\n");
}
