/**
 * Money is integer nano-USD wherever it is summed, so totals never drift.
 * Prices in the configuration are USD per 1M tokens; one token at price P costs P * 1000 nano-USD.
 */

export type Nano = number;

export const NANO_PER_USD = 1_000_000_000;

export function usdToNano(usd: number): Nano {
  return Math.round(usd * NANO_PER_USD);
}

export function nanoToUsd(nano: Nano): number {
  return nano / NANO_PER_USD;
}

/** Cost of `tokens` at `pricePerMillion` USD, rounded to a whole nano-USD. */
export function tokensCost(tokens: number, pricePerMillion: number): Nano {
  return Math.round(tokens * pricePerMillion * 1000);
}

/** "$20.00", and for small amounts enough digits to be meaningful: "$0.0025". */
export function formatUsd(nano: Nano): string {
  const usd = nanoToUsd(nano);
  if (usd === 0 || Math.abs(usd) >= 1) return `$${usd.toFixed(2)}`;
  const precise = usd.toFixed(6).replace(/0+$/, "");
  return `$${precise.length < 5 ? usd.toFixed(2) : precise}`;
}

/**
 * The USD figure sent in headers: every digit of the nano-USD amount, trailing zeros dropped
 * ("0.00105", "2"). Written from the integer's digits: each answer carries one or two.
 */
export function headerUsd(nano: Nano): string {
  if (!Number.isSafeInteger(nano)) return nanoToUsd(nano).toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
  const abs = Math.abs(nano);
  const sign = nano < 0 ? "-" : "";
  const whole = Math.floor(abs / NANO_PER_USD);
  let fraction = abs - whole * NANO_PER_USD;
  if (fraction === 0) return `${sign}${whole}`;
  let digits = 9;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  return `${sign}${whole}.${String(fraction).padStart(digits, "0")}`;
}
