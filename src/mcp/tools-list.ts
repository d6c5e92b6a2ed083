// tools/list answers as the caller may see them: every tool the policy would refuse this caller
// as tools/call is removed (decision.mcp_tools names those it would allow), in a JSON answer
// (held whole) and in an SSE stream (event by event as they arrive). An answer is read as an MCP
// client would read it, or refused: a client takes any message whose id is one of its pending
// requests' ids, in any answer on any stream, so every answer of the MCP endpoint is read, not
// only the answer to a tools/list. Which responses are tools/list answers is known by JSON-RPC
// id: the request's own, or one recorded for the caller (a tools/list answer may come on another
// stream, resumed with Last-Event-ID, on another replica). Framework-free but for node:stream;
// the gateway installs it (src/gateway/gateway.ts).
import { StringDecoder } from "node:string_decoder";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { RequestError } from "../errors.js";
import { utf8Charset } from "../http/json-body.js";
import type { JsonRpcRequestId } from "../stores/types.js";
import { firstDuplicateMember } from "./jsonrpc.js";
import { SseEventSplitter, eventData, withData } from "./sse.js";

/** Bytes (JSON answers) and characters (SSE events) held across every answer being read in this process. */
export class HeldAnswerBudget {
  #held = 0;

  constructor(readonly limit: number) {}

  /** Takes `n` more; false (and nothing taken) when that would pass the limit. */
  take(n: number): boolean {
    if (this.#held + n > this.limit) return false;
    this.#held += n;
    return true;
  }

  give(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }

  get held(): number {
    return this.#held;
  }
}

/** How an id stands to the caller's tools/list requests: one of them, equal to one only as a number (looseId), or neither. */
export type IdMatch = "exact" | "loose" | null;

/** What a stream of answers to one caller is filtered with. */
export interface ToolsListAnswers {
  /** The tools the caller may see (the decision's mcp_tools). */
  visible: ReadonlySet<string>;
  /** The request this answer is for, when it is one: its id and whether it is a tools/list. */
  own: { id: JsonRpcRequestId; toolsList: boolean } | null;
  /** How another id stands to this caller's tools/list requests; rejects when it cannot say. */
  lookup(id: JsonRpcRequestId): Promise<IdMatch>;
  /** MCP 2026-07-28: a filtered result is marked `cacheScope: "private"` (it is this caller's). */
  markPrivate: boolean;
  /** The longest JSON answer (bytes) or SSE event (characters) held to be read; past it the answer is refused. */
  maxHeld: number;
  /** What every answer held in this process shares. */
  budget: HeldAnswerBudget;
}

/** The head of the upstream's answer, as far as choosing a reading goes. */
export interface AnswerHead {
  /** Every Content-Type field as received (a client joins repeated fields: two are refused). */
  contentTypes: string[];
  contentEncoding: string | undefined;
}

/**
 * How the answer is passed on: null as it is; `stream` through a Transform that rewrites it as it
 * flows; `whole` held and rewritten, then sent with its own Content-Length; or a refusal (502
 * upstream_answer_unreadable), never passed on. The Transform and `whole` fail with RequestError
 * (upstream_answer_unreadable, upstream_answer_too_large, answer_memory_exhausted) or the store's
 * BackendUnavailableError.
 */
export type AnswerReading = null | { stream: Transform } | { whole(body: Readable): Promise<Buffer> } | RequestError;

/**
 * JSON-RPC ids as a client that reads them as numbers sees them: the MCP TypeScript SDK looks a
 * response up by Number(id), so "1", "01", " 1" and "1e0" are the request 1 to it. Null for a
 * string that is no number there.
 */
export function looseId(id: JsonRpcRequestId): number | null {
  const n = typeof id === "number" ? id : Number(id);
  return Number.isFinite(n) ? n : null;
}

const unreadable = (why: string): RequestError => new RequestError("upstream_answer_unreadable", `the upstream's MCP answer cannot be read as a client reads it: ${why}`);

type Kind = "sse" | "json" | "other";

/** The media type as a client picks its reader; look-alikes ("application/jsonx", "text/event-streamy") and other charsets are refusals. */
function kindOf(contentType: string): Kind | RequestError {
  const essence = contentType.split(";", 1)[0]!.trim().toLowerCase();
  const sse = essence === "text/event-stream";
  const json = essence === "application/json" || /^application\/[a-z0-9.+-]*\+json$/.test(essence);
  if (!sse && !json) {
    // A client that tests `includes("application/json")` reads these as JSON or SSE all the same.
    return /json|event-stream/i.test(contentType) ? unreadable(`the Content-Type ${JSON.stringify(contentType.slice(0, 100))} is neither JSON nor SSE, nor anything else`) : "other";
  }
  if (!utf8Charset(contentType) || (contentType.match(/charset/gi)?.length ?? 0) > 1) return unreadable(`the charset of ${JSON.stringify(contentType.slice(0, 100))} is not UTF-8`);
  return sse ? "sse" : "json";
}

/**
 * The reading of an answer on a project's MCP endpoint, from its head. Every SSE stream and
 * every JSON answer is read (a client takes a message by its id wherever it comes); an answer a
 * client might read as JSON or SSE and Tollgate cannot is refused.
 */
export function answerReading(head: AnswerHead, answers: ToolsListAnswers): AnswerReading {
  if (head.contentTypes.length === 0) return null;
  if (head.contentTypes.length > 1) return unreadable("more than one Content-Type");
  const kind = kindOf(head.contentTypes[0]!);
  if (kind === "other") return null;
  if (kind instanceof RequestError) return kind;
  if (head.contentEncoding !== undefined && head.contentEncoding.trim().toLowerCase() !== "identity") {
    return unreadable(`it came in the content coding ${JSON.stringify(head.contentEncoding.slice(0, 100))} although asked for identity`);
  }
  return kind === "sse" ? { stream: new SseAnswer(answers) } : { whole: (body) => wholeJson(body, answers) };
}

type Message = Record<string, unknown> & { id: JsonRpcRequestId; result: Record<string, unknown> & { tools: unknown[] } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Member names a case-insensitive decoder (Go's encoding/json, .NET) reads as the envelope's or the result's tools. */
const fold = (name: string): string => name.normalize("NFKC").toLowerCase();
const ENVELOPE = new Set(["jsonrpc", "id", "method", "params", "result", "error"]);
function respelt(object: Record<string, unknown>, names: ReadonlySet<string>): string | null {
  for (const name of Object.keys(object)) if (!names.has(name) && names.has(fold(name))) return name;
  return null;
}
const TOOLS = new Set(["tools"]);

/**
 * A JSON-RPC response whose result holds a tools array; null for anything else. Only text that
 * could spell "tools" (in any case, escaped or in another script) is parsed at all; text that
 * could, and that JSON.parse or a strict reading cannot take as one message, is refused (another
 * client's parser may read it: Python's takes NaN, a case-insensitive one takes "Tools").
 */
function listing(raw: string): Message | null {
  // A client's UTF-8 decoder (fetch's text() and json()) drops a leading byte order mark.
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  if (!/tools/i.test(text) && !text.includes("\\u") && !/[^\x00-\x7f]/.test(text)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw unreadable("a message that may list tools is not JSON");
  }
  if (Array.isArray(value)) throw unreadable("a batch (JSON array) of messages");
  if (!isObject(value)) return null;
  const twice = firstDuplicateMember(text);
  if (twice !== null) throw unreadable(`the member name ${JSON.stringify(String(twice).slice(0, 64))} appears twice in one object (case ignored)`);
  const other = respelt(value, ENVELOPE) ?? (isObject(value.result) ? respelt(value.result, TOOLS) : null);
  if (other !== null) throw unreadable(`${JSON.stringify(other.slice(0, 64))} is another spelling of a JSON-RPC or MCP member name`);
  if (!isObject(value.result) || !Array.isArray(value.result.tools)) return null;
  const { id } = value;
  if (typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id))) return value as Message;
  throw unreadable("a list of tools whose id is not a string or an integer");
}

/** The message again with only the visible tools (entries without a string name dropped too). */
export function filterToolsList(message: Message, visible: ReadonlySet<string>, markPrivate: boolean): string {
  message.result.tools = message.result.tools.filter((tool) => isObject(tool) && typeof tool.name === "string" && visible.has(tool.name));
  if (markPrivate) message.result.cacheScope = "private";
  return JSON.stringify(message);
}

const looselyOnly = (id: JsonRpcRequestId): RequestError => unreadable(`the id ${JSON.stringify(id)} is one of the caller's tools/list requests only as a number: a client may read it as that answer`);

/**
 * The text rewritten when it is a tools/list answer of this caller, null when it passes as it is:
 * at once unless an id other than the request's own must be looked up. Throws (or rejects with)
 * a refusal for a text that cannot be read as a client reads it, or whose id equals a tools/list
 * request's only once read as a number (1 and "1" are two ids, yet one to the TypeScript SDK).
 */
function rewrite(text: string, answers: ToolsListAnswers): string | null | Promise<string | null> {
  const message = listing(text);
  if (message === null) return null;
  const filtered = () => filterToolsList(message, answers.visible, answers.markPrivate);
  const { own } = answers;
  if (own !== null && message.id === own.id) return own.toolsList ? filtered() : null;
  if (own?.toolsList && looseId(own.id) !== null && looseId(own.id) === looseId(message.id)) throw looselyOnly(message.id);
  return answers.lookup(message.id).then((match) => {
    if (match === "loose") throw looselyOnly(message.id);
    return match === "exact" ? filtered() : null;
  });
}

const tooLarge = (maxHeld: number): RequestError => new RequestError("upstream_answer_too_large", `an MCP answer held to be filtered grew past ${maxHeld}`);
const budgetFull = (): RequestError => new RequestError("answer_memory_exhausted");

/** A JSON answer: held whole (within maxHeld and the shared budget), then read and rewritten. */
async function wholeJson(body: Readable, answers: ToolsListAnswers): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (bytes + chunk.length > answers.maxHeld) throw tooLarge(answers.maxHeld);
      if (!answers.budget.take(chunk.length)) throw budgetFull();
      bytes += chunk.length;
      chunks.push(chunk);
    }
    const whole = Buffer.concat(chunks);
    // JSON holds no NUL byte in UTF-8; in UTF-16 or UTF-32 every ASCII character brings some, and
    // parsers that detect the encoding from the bytes (Python's json.loads) read such a text.
    if (whole.includes(0)) throw unreadable("a JSON answer with NUL bytes (UTF-16 or UTF-32)");
    const rewritten = await rewrite(whole.toString("utf8"), answers);
    return rewritten === null ? whole : Buffer.from(rewritten);
  } finally {
    answers.budget.give(bytes);
  }
}

/**
 * An SSE stream: each event passed on as soon as it is whole, rewritten when it is a tools/list
 * answer. A byte order mark at the start is dropped (as a client's parser drops it); an event the
 * stream ends without its empty line is read like any other (a client may dispatch it).
 */
class SseAnswer extends Transform {
  readonly #decoder = new StringDecoder("utf8");
  readonly #events = new SseEventSplitter();
  #started = false;
  /** Characters of the budget this stream holds. */
  #taken = 0;

  constructor(private readonly answers: ToolsListAnswers) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let text = this.#decoder.write(chunk);
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const events = this.#events.push(text);
    if (this.#events.held > this.answers.maxHeld) return done(tooLarge(this.answers.maxHeld));
    if (!this.#hold(this.#events.held)) return done(budgetFull());
    this.#pass(events, done);
  }

  override _flush(done: TransformCallback): void {
    const events = this.#events.push(this.#decoder.end());
    // An event cut off by the end of the stream is completed, so it is read (and filtered) too.
    if (this.#events.held > 0) events.push(...this.#events.push("\n\n"));
    this.#events.rest();
    this.#hold(0);
    this.#pass(events, done);
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.#hold(0);
    done(err);
  }

  /** Holds `n` characters of the budget in all; false when the budget cannot give them. */
  #hold(n: number): boolean {
    if (n > this.#taken && !this.answers.budget.take(n - this.#taken)) return false;
    if (n < this.#taken) this.answers.budget.give(this.#taken - n);
    this.#taken = n;
    return true;
  }

  /** The events on, in order, in one write; synchronously unless an id must be looked up. */
  #pass(events: string[], done: TransformCallback): void {
    let out = "";
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const data = eventData(event);
      let rewritten: string | null | Promise<string | null>;
      try {
        rewritten = data === null ? null : rewrite(data, this.answers);
      } catch (err) {
        return done(err as Error);
      }
      if (rewritten instanceof Promise) {
        rewritten.then(
          (text) => {
            out += text === null ? event : withData(event, text);
            this.#pass(events.slice(i + 1), (err, rest?: Buffer) => done(err, err ? undefined : Buffer.concat([Buffer.from(out), rest ?? Buffer.alloc(0)])));
          },
          (err: unknown) => done(err as Error),
        );
        return;
      }
      out += rewritten === null ? event : withData(event, rewritten);
    }
    done(null, out === "" ? undefined : Buffer.from(out));
  }
}
