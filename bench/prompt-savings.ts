/**
 * Tokens the prompt optimizer saves on a sample of realistic user prompts (o200k_base).
 * Run: npx tsx bench/prompt-savings.ts — prints a Markdown table.
 */
import { optimizeText } from "../src/optimize/prompt.js";
import { countTextTokens } from "../src/tokens/count.js";

const SAMPLES: Array<[string, string]> = [
  ["polite request", "Hi there! I was wondering if you could help me out. Could you please summarize the following article for me in order to save some time? Basically, I need the main points.\n\n\n\nThe article discusses the impact of remote work on productivity..."],
  ["support ticket", "Hello,   I have a problem with my order.    Due to the fact that the package arrived damaged, I would like you to process a refund.  Prior to contacting you I tried the chat, but it was not able to help.   Please note that I have attached photos."],
  ["code question", "Could you please explain why this does not work? In order to debug it I added logging:\n\n```python\ndef  f(x):\n    return   x  *  2   # in order to double\n```\n\nIt is important to note that I am using Python 3.11."],
  ["data extraction", "Extract the name, date and amount from the invoice below.   Return JSON.\n\nInvoice #4411   Date: 2026-03-01   Bill to: ACME Corp   Amount due: $1,240.00"],
  ["essay prompt", "I would like you to write an essay with regard to the history of the printing press. A large number of sources say it changed Europe. In the event that you cite sources, please list them at the end. Needless to say, keep it under 800 words."],
  ["translation", "Translate into French: The meeting has been moved to Thursday at 3 pm. Please confirm your attendance."],
  ["classification", "Classify the sentiment of this review as positive, negative or neutral: \"The battery life is great but the screen scratches easily.\""],
  ["meeting notes", "Can you please   turn these notes into action items?\n\n\n- Sam to send the budget   by Friday\n- At this point in time we have no designer\n- Subsequent to the launch, review metrics\n\n\n\n- The majority of the team prefers Tuesdays"],
  ["sql help", "I have a table `orders(id, user_id, total, created_at)`. Write a query to find the top 5 users by total spend in 2025. As a matter of fact, ties should be broken by user_id."],
  ["short chat", "hi, how are you?"],
];

let before = 0;
let after = 0;
const rows: string[] = [];
for (const [name, text] of SAMPLES) {
  const a = await countTextTokens(text, "o200k_base");
  const b = await countTextTokens(optimizeText(text), "o200k_base");
  before += a;
  after += b;
  rows.push(`| ${name} | ${a} | ${b} | ${a - b} | ${(((a - b) / a) * 100).toFixed(1)}% |`);
}
console.log("| prompt | tokens before | after | saved | saved % |\n|---|---:|---:|---:|---:|");
console.log(rows.join("\n"));
console.log(`| **all ${SAMPLES.length}** | ${before} | ${after} | ${before - after} | ${(((before - after) / before) * 100).toFixed(1)}% |`);
