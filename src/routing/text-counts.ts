/**
 * One pass over a prompt's characters for the scored router (score-features.ts): cue words
 * (negations, constraints, logic, quantities, explanations, code), digits, operators, LaTeX,
 * option lists and part labels, counted without building a string per word.
 */

/** Kinds of cue word, as indices into TextCounts.cues. */
export const CUE = { negation: 0, constraint: 1, logic: 2, quantity: 3, explain: 4, code: 5 } as const;
type CueKind = keyof typeof CUE;

/** Cue words by what they signal; matched as whole words, lower-cased. */
const CUES: Record<CueKind, readonly string[]> = {
  negation: ["not", "except", "least", "false", "incorrect", "never", "neither", "nor", "cannot", "unless", "without"],
  constraint: ["must", "should", "exactly", "only", "ensure", "each", "every", "both", "all", "require", "requires", "required", "maximum", "minimum", "limit", "constraint", "constraints", "format"],
  logic: ["if", "then", "therefore", "thus", "hence", "implies", "suppose", "assume", "given", "because", "whether", "valid", "true", "prove", "proof", "argument", "conclusion", "premise"],
  quantity: ["calculate", "compute", "solve", "derive", "estimate", "probability", "percent", "rate", "total", "average", "expected", "value", "many", "much", "sum", "product", "ratio", "equation", "function", "integer", "number"],
  explain: ["why", "how", "explain", "describe", "analyze", "analyse", "compare", "evaluate", "discuss", "design", "implement", "optimize", "debug", "plan"],
  code: ["def", "return", "function", "class", "import", "const", "var", "let", "print", "printf", "include", "public", "static", "void", "int", "while", "for", "select", "null", "lambda", "struct"],
};
/** Words that name one part of a multi-part question when a number or letter follows ("Statement 1", "part (b)"). */
const PART_WORDS = ["statement", "scenario", "case", "claim", "part", "question", "step", "task", "condition", "requirement"];
/** Shouted negations ("NOT", "EXCEPT") are how exams and careful prompts flag a trap. */
const SHOUTED = ["not", "except", "least", "never", "only"];

/** A word the scan looks for, found by the hash of its lower-case letters (no string is built per word; 30 bits keep the key a small integer). */
interface Cue {
  word: string;
  kinds: number[];
  part: boolean;
  shouted: boolean;
}

const FNV_OFFSET = 0x811c9dc5;
const fnv = (hash: number, c: number) => Math.imul(hash ^ c, 0x01000193);

const CUE_TABLE = new Map<number, Cue>();
function cueFor(word: string): Cue {
  let h = FNV_OFFSET;
  for (let i = 0; i < word.length; i++) h = fnv(h, word.charCodeAt(i));
  let cue = CUE_TABLE.get(h & 0x3fffffff);
  if (cue && cue.word !== word) throw new Error(`cue words "${word}" and "${cue.word}" share a hash`);
  if (!cue) CUE_TABLE.set(h & 0x3fffffff, (cue = { word, kinds: [], part: false, shouted: false }));
  return cue;
}
for (const [kind, words] of Object.entries(CUES) as Array<[CueKind, readonly string[]]>) for (const w of words) cueFor(w).kinds.push(CUE[kind]);
for (const w of PART_WORDS) cueFor(w).part = true;
for (const w of SHOUTED) cueFor(w).shouted = true;

/** Whether text[i, j) is `word`, ignoring ASCII case (the hash matched; this rules out a collision). */
function sameWord(text: string, i: number, j: number, word: string): boolean {
  if (j - i !== word.length) return false;
  for (let k = i; k < j; k++) if ((text.charCodeAt(k) | 32) !== word.charCodeAt(k - i)) return false;
  return true;
}

/** Options that combine others ("I and II", "Both", "None of the above"): the answer needs every part checked. */
const COMBINED = /^(?:(?:I{1,3}|IV|V)\b|[Bb]oth\b|[Nn]either\b|[Aa]ll of\b|[Nn]one of\b)/;
const NUMERIC_OPTION = /^[-$\d.,/%\s()x×*^+=]*\d[-$\d.,/%\s()x×*^+=]*$/;
const LATEX = /\\(?:frac|sqrt|sum|int|cdot|times|alpha|beta|theta|pi|mathbb|left|right|begin)\b|\$[^$\n]+\$/;

const isLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isWordChar = (c: number) => isLetter(c) || isDigit(c) || c === 95;
const isBlank = (c: number) => c === 32 || c === 9;
/** = + * ^ < > / and the math operators block: what joins the two sides of an equation or formula. */
const isOperator = (c: number) => c === 61 || c === 43 || c === 42 || c === 94 || c === 60 || c === 62 || c === 47 || (c >= 0x2200 && c <= 0x22ff);

/** What one pass over a text counts. */
export interface TextCounts {
  words: number;
  longWords: number;
  numbers: number;
  sentences: number;
  questions: number;
  math: number;
  equations: number;
  code: number;
  quotes: number;
  parens: number;
  shouted: number;
  parts: number;
  listItems: number;
  options: number;
  numericOptions: number;
  combinedOptions: number;
  /** Where the first answer option starts: the question stem ends there. */
  stemEnd: number;
  latex: boolean;
  codeBlock: boolean;
  /** Cue words found, by CUE kind. */
  cues: Int32Array;
}

/** "1", "II", "(b)" or "b)" after a part word. */
function partLabelAt(text: string, i: number): boolean {
  let k = i;
  if (!isBlank(text.charCodeAt(k))) return false;
  while (isBlank(text.charCodeAt(k))) k++;
  const c = text.charCodeAt(k);
  if (isDigit(c)) return true;
  if (c === 73 || c === 86 || c === 88) {
    while ([73, 86, 88].includes(text.charCodeAt(k))) k++;
    return !isLetter(text.charCodeAt(k));
  }
  if (c === 40) k++;
  return text.charCodeAt(k) >= 97 && text.charCodeAt(k) <= 104 && text.charCodeAt(k + 1) === 41;
}

/** A line's start: an answer option ("B. 42", "(c) text"), a list item, or a labelled part ("(ii)"). */
function readLineStart(text: string, start: number, counts: TextCounts): void {
  let k = start;
  while (isBlank(text.charCodeAt(k))) k++;
  const c = text.charCodeAt(k);
  const next = text.charCodeAt(k + 1);
  if ((c === 45 || c === 42 || c === 0x2022) && isBlank(next)) {
    counts.listItems++;
    return;
  }
  if (isDigit(c)) {
    let d = k;
    while (isDigit(text.charCodeAt(d))) d++;
    if ((text.charCodeAt(d) === 46 || text.charCodeAt(d) === 41) && isBlank(text.charCodeAt(d + 1))) counts.listItems++;
    return;
  }
  if (c === 40) {
    let r = k + 1;
    while ([105, 118, 120].includes(text.charCodeAt(r))) r++;
    if (r > k + 1 && text.charCodeAt(r) === 41) counts.parts++;
    else if (text.charCodeAt(k + 1) >= 97 && text.charCodeAt(k + 1) <= 104 && text.charCodeAt(k + 2) === 41) counts.parts++;
  }
  const letter = c === 40 ? k + 1 : k;
  const l = text.charCodeAt(letter) | 32;
  const mark = text.charCodeAt(letter + 1);
  if (l >= 97 && l <= 104 && (mark === 46 || mark === 41 || mark === 58) && isBlank(text.charCodeAt(letter + 2))) {
    if (counts.options === 0) counts.stemEnd = start;
    counts.options++;
    let b = letter + 2;
    while (isBlank(text.charCodeAt(b))) b++;
    let end = text.indexOf("\n", b);
    if (end < 0) end = text.length;
    const body = text.slice(b, end);
    if (NUMERIC_OPTION.test(body)) counts.numericOptions++;
    if (COMBINED.test(body)) counts.combinedOptions++;
  }
}

/** One pass over the characters; a word is looked up among the cue words by its hash. */
export function countText(text: string): TextCounts {
  const counts: TextCounts = {
    words: 0, longWords: 0, numbers: 0, sentences: 0, questions: 0, math: 0, equations: 0, code: 0, quotes: 0, parens: 0,
    shouted: 0, parts: 0, listItems: 0, options: 0, numericOptions: 0, combinedOptions: 0, stemEnd: text.length,
    latex: (text.includes("\\") || text.includes("$")) && LATEX.test(text),
    codeBlock: text.includes("```"),
    cues: new Int32Array(6),
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    if (i === 0 || text.charCodeAt(i - 1) === 10) readLineStart(text, i, counts);
    const c = text.charCodeAt(i);
    if (isLetter(c)) {
      let hash = fnv(FNV_OFFSET, c | 32);
      let upper = c <= 90 ? 1 : 0;
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (!isLetter(d)) break;
        hash = fnv(hash, d | 32);
        if (d <= 90) upper++;
        j++;
      }
      counts.words++;
      if (j - i >= 9) counts.longWords++;
      const cue = CUE_TABLE.get(hash & 0x3fffffff);
      if (cue && sameWord(text, i, j, cue.word)) {
        for (let k = 0; k < cue.kinds.length; k++) counts.cues[cue.kinds[k]!]!++;
        if (cue.shouted && upper === j - i) counts.shouted++;
        if (cue.part && partLabelAt(text, j)) counts.parts++;
      }
      i = j - 1;
    } else if (isDigit(c)) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (!isDigit(d) && !((d === 46 || d === 44) && j + 1 < n && isDigit(text.charCodeAt(j + 1)))) break;
        j++;
      }
      counts.numbers++;
      i = j - 1;
    } else if (c === 46 || c === 33) {
      if (i + 1 === n || text.charCodeAt(i + 1) === 32 || text.charCodeAt(i + 1) === 10) counts.sentences++;
    } else if (c === 63) {
      counts.questions++;
      counts.sentences++;
    } else if (isOperator(c) || c === 37 || c === 0x3c0) {
      if (c !== 47) counts.math++;
      if (isOperator(c)) {
        let b = i - 1;
        while (b >= 0 && isBlank(text.charCodeAt(b))) b--;
        let a = i + 1;
        while (isBlank(text.charCodeAt(a))) a++;
        const before = text.charCodeAt(b);
        const after = text.charCodeAt(a);
        if ((isWordChar(before) || before === 41 || before === 93) && (isWordChar(after) || after === 40 || after === 45 || after === 92)) counts.equations++;
      }
    } else if (c === 123 || c === 125 || c === 59 || c === 91 || c === 93) counts.code++;
    else if (c === 34 || c === 0x201c || c === 0x201d) counts.quotes++;
    else if (c === 40) counts.parens++;
  }
  return counts;
}

