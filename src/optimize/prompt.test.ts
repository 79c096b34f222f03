import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../request/parse.js";
import { optimizePrompt, optimizeText } from "./prompt.js";

describe("optimizeText: whitespace", () => {
  it("collapses runs of spaces and tabs to one space", () => {
    expect(optimizeText("Sort   these\t\twords  please")).toBe("Sort these words please");
  });

  it("drops spaces around newlines and keeps at most one blank line", () => {
    expect(optimizeText("First line   \n   second line\n\n\n\n\nthird")).toBe("First line\nsecond line\n\nthird");
  });

  it("trims the text at both ends", () => {
    expect(optimizeText("  \n  Summarise this.  \n ")).toBe("Summarise this.");
  });

  it.each(["   ", "\n\n\t ", " "])("leaves whitespace-only text %j as it is", (text) => {
    expect(optimizeText(text)).toBe(text);
  });

  it("leaves text that is already tight unchanged", () => {
    expect(optimizeText("List three primes.")).toBe("List three primes.");
  });
});

describe("optimizeText: filler phrases", () => {
  it("removes a filler phrase and capitalises the sentence it started", () => {
    expect(optimizeText("Could you please summarise this article?")).toBe("Summarise this article?");
    expect(optimizeText("I would like you to translate it.")).toBe("Translate it.");
    expect(optimizeText("Basically, the function leaks memory.")).toBe("The function leaks memory.");
  });

  it("capitalises at the start of a later sentence and of a new line", () => {
    expect(optimizeText("Here is the log. can you please explain it?")).toBe("Here is the log. Explain it?");
    expect(optimizeText("Here is the log!\nneedless to say, it fails.")).toBe("Here is the log!\nIt fails.");
  });

  it("does not capitalise in the middle of a sentence", () => {
    expect(optimizeText("Tell me, basically, what it does.")).toBe("Tell me, what it does.");
    expect(optimizeText("The answer, as a matter of fact, is short.")).toBe("The answer, is short.");
  });

  it("removes several fillers in one text", () => {
    expect(optimizeText("Please note that the API is slow. Essentially, it times out.")).toBe("The API is slow. It times out.");
  });

  it("matches filler phrases whole words only", () => {
    expect(optimizeText("Unbasically, nothing")).toBe("Unbasically, nothing");
  });
});

describe("optimizeText: wordy phrases", () => {
  it("shortens wordy phrases", () => {
    expect(optimizeText("Retry in order to recover due to the fact that it failed.")).toBe("Retry to recover because it failed.");
    expect(optimizeText("A large number of users log in prior to noon.")).toBe("Many users log in before noon.");
  });

  it("keeps a leading capital", () => {
    expect(optimizeText("In order to win, practise.")).toBe("To win, practise.");
    expect(optimizeText("At this point in time it works.")).toBe("Now it works.");
  });

  it("keeps lower case in mid-sentence", () => {
    expect(optimizeText("It is fast with regard to reads.")).toBe("It is fast about reads.");
  });
});

describe("optimizeText: code", () => {
  const fenced = "```python\ndef f():\n    return   1  \n\n\n\n# in order to    win, basically\n```";

  it("leaves a fenced code block byte for byte", () => {
    const text = `Could you please   review this:\n${fenced}\nin order to   ship it.`;
    expect(optimizeText(text)).toBe(`Review this:\n${fenced}\nto ship it.`);
  });

  it("leaves an unterminated fenced block byte for byte, trailing whitespace included", () => {
    const open = "```js\nconst  x = 1;   // in order to\n\n\n";
    expect(optimizeText(`Basically,   fix   this:\n${open}`)).toBe(`Fix this:\n${open}`);
  });

  it("leaves inline code spans byte for byte", () => {
    expect(optimizeText("Run `npm   test  in order to` in order to   check.")).toBe("Run `npm   test  in order to` to check.");
  });

  it("treats the text between code spans as prose", () => {
    expect(optimizeText("`a  b`   in order to   `c  d`")).toBe("`a  b` to `c  d`");
  });
});

describe("optimizePrompt", () => {
  it("changes only user messages", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "Could you please   be terse." },
      { role: "user", content: "Could you please   help?" },
      { role: "assistant", content: "In order to   help, tell me more." },
      { role: "tool", content: "basically,   done", tool_call_id: "call_1" },
      { role: "developer", content: "in order to   x" },
    ];
    const snapshot = structuredClone(messages);
    const out = optimizePrompt(messages);
    expect(out.changed).toBe(1);
    expect(out.messages).toEqual([snapshot[0], { role: "user", content: "Help?" }, ...snapshot.slice(2)]);
    expect(out.messages[0]).toBe(messages[0]);
    expect(out.messages[2]).toBe(messages[2]);
    expect(out.messages[3]).toBe(messages[3]);
    expect(out.messages[4]).toBe(messages[4]);
    expect(messages).toEqual(snapshot);
  });

  it("keeps the other fields of a changed user message", () => {
    const out = optimizePrompt([{ role: "user", name: "alice", content: "in order to  go" }]);
    expect(out.messages).toEqual([{ role: "user", name: "alice", content: "to go" }]);
  });

  it("optimizes the text parts of array content and leaves other parts alone", () => {
    const image = { type: "image_url", image_url: { url: "https://example.test/a.png" } };
    const messages: ChatMessage[] = [
      {
        role: "user",
        content: [
          { type: "text", text: "Could you please   describe this?" },
          image,
          { type: "text", text: "Already short." },
          { type: "input_text", text: "in order to   x" },
        ],
      },
    ];
    const snapshot = structuredClone(messages);
    const out = optimizePrompt(messages);
    expect(out.changed).toBe(1);
    const parts = out.messages[0]!.content as unknown[];
    expect(parts).toEqual([
      { type: "text", text: "Describe this?" },
      image,
      { type: "text", text: "Already short." },
      { type: "input_text", text: "in order to   x" },
    ]);
    expect(parts[1]).toBe(image);
    expect(parts[2]).toBe((messages[0]!.content as unknown[])[2]);
    expect(messages).toEqual(snapshot);
  });

  it("returns a message whose parts need no change as the same object", () => {
    const message = { role: "user", content: [{ type: "text", text: "Fine as is." }] };
    const out = optimizePrompt([message]);
    expect(out.changed).toBe(0);
    expect(out.messages[0]).toBe(message);
  });

  it("counts each changed user message once", () => {
    const out = optimizePrompt([
      { role: "user", content: [{ type: "text", text: "in order to  a" }, { type: "text", text: "in order to  b" }] },
      { role: "assistant", content: "ok" },
      { role: "user", content: "unchanged" },
      { role: "user", content: "prior to  c" },
      { role: "user", content: "   " },
    ]);
    expect(out.changed).toBe(2);
    expect(out.messages.map((m) => m.content)).toEqual([
      [{ type: "text", text: "to a" }, { type: "text", text: "to b" }],
      "ok",
      "unchanged",
      "before c",
      "   ",
    ]);
  });

  it("leaves user messages without string or array content alone", () => {
    const message = { role: "user", content: null };
    expect(optimizePrompt([message])).toEqual({ messages: [message], changed: 0 });
  });
});
