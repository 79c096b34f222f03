import { SseSplitter } from "../upstream/sse.js";

/**
 * A stream reader of a dialect forwarded as it came (the Responses API's named events, Anthropic's):
 * each whole event is inspected for the accounting, then passed on unchanged; an unterminated tail
 * at the end is the stream's, as it came.
 */
export abstract class ForwardingReader {
  private readonly splitter = new SseSplitter();

  protected abstract inspect(event: string): void;

  transform(chunk: string): string {
    let out = "";
    for (const event of this.splitter.push(chunk)) {
      this.inspect(event);
      out += `${event}\n\n`;
    }
    return out;
  }

  flush(): string {
    return this.splitter.rest();
  }
}
