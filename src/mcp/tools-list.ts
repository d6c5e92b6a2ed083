// tools/list answers as the caller may see them: every tool the policy would refuse this caller
// as tools/call is removed (decision.mcp_tools names those it would allow), in a JSON answer and
// in an SSE stream, event by event as they arrive. Which responses are tools/list answers is
// known by JSON-RPC id: the request's own, or one recorded for the caller (a tools/list answer
// may come on another stream, resumed with Last-Event-ID, on another replica). Framework-free
// but for node:stream; the gateway installs it (src/gateway/gateway.ts).
import { StringDecoder } from "node:string_decoder";
import { Transform, type TransformCallback } from "node:stream";
import type { JsonRpcRequestId } from "../stores/types.js";
import { SseEventSplitter, eventData, withData } from "./sse.js";

/** What a stream of answers to one caller is filtered with. */
export interface ToolsListAnswers {
  /** The tools the caller may see (the decision's mcp_tools). */
  visible: ReadonlySet<string>;
  /** The request this answer is for, when it is one: its id and whether it is a tools/list. */
  own: { id: JsonRpcRequestId; toolsList: boolean } | null;
  /** Whether another id was one of this caller's tools/list requests; rejects when it cannot say. */
  isToolsList(id: JsonRpcRequestId): Promise<boolean>;
  /** MCP 2026-07-28: a filtered result is marked `cacheScope: "private"` (it is this caller's). */
  markPrivate: boolean;
  /** The longest JSON answer or SSE event held to be read (characters); past it the answer is cut off. */
  maxHeld: number;
}

/** The head of the upstream's answer, as far as choosing a rewrite goes. */
export interface AnswerHead {
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

const SSE = /^\s*text\/event-stream\s*(;|$)/i;
const JSON_TYPE = /^\s*application\/(?:[a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * How to pass the answer on: null as it is; a Transform that rewrites it; "unreadable" when it
 * must be read and cannot be (a content coding other than identity: refused, never passed on).
 * Every SSE stream is read (any event may be a tools/list answer); a JSON answer when its request
 * is a tools/list (a JSON answer is the answer to its own request only).
 */
export function answerRewrite(head: AnswerHead, answers: ToolsListAnswers): Transform | null | "unreadable" {
  const sse = head.contentType !== undefined && SSE.test(head.contentType);
  const json = !sse && answers.own?.toolsList === true && head.contentType !== undefined && JSON_TYPE.test(head.contentType);
  if (!sse && !json) return null;
  if (head.contentEncoding !== undefined && head.contentEncoding.trim().toLowerCase() !== "identity") return "unreadable";
  return sse ? new SseAnswer(answers) : new JsonAnswer(answers);
}

type Message = { id: JsonRpcRequestId; result: Record<string, unknown> & { tools: unknown[] } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A JSON-RPC response whose result holds a tools array; null for anything else. Only text that
 * spells "tools", or could (a \u escape), is parsed at all.
 */
function listing(text: string): Message | null {
  if (!text.includes("tools") && !text.includes("\\u")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value) || !isObject(value.result) || !Array.isArray(value.result.tools)) return null;
  const { id } = value;
  return typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)) ? (value as Message) : null;
}

/** The message again with only the visible tools (entries without a string name dropped too). */
export function filterToolsList(message: Message, visible: ReadonlySet<string>, markPrivate: boolean): string {
  message.result.tools = message.result.tools.filter((tool) => isObject(tool) && typeof tool.name === "string" && visible.has(tool.name));
  if (markPrivate) message.result.cacheScope = "private";
  return JSON.stringify(message);
}

/**
 * The text rewritten when it is a tools/list answer of this caller, null when it passes as it is:
 * at once unless an id other than the request's own must be looked up.
 */
function rewrite(text: string, answers: ToolsListAnswers): string | null | Promise<string | null> {
  const message = listing(text);
  if (message === null) return null;
  const filtered = (toolsList: boolean) => (toolsList ? filterToolsList(message, answers.visible, answers.markPrivate) : null);
  if (answers.own !== null && message.id === answers.own.id) return filtered(answers.own.toolsList);
  return answers.isToolsList(message.id).then(filtered);
}

class TooLarge extends Error {
  constructor(maxHeld: number) {
    super(`an MCP answer held to be filtered grew past ${maxHeld} characters`);
  }
}

/** A JSON answer: held whole, then passed on filtered. */
class JsonAnswer extends Transform {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(private readonly answers: ToolsListAnswers) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.answers.maxHeld) return done(new TooLarge(this.answers.maxHeld));
    this.#chunks.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const body = Buffer.concat(this.#chunks);
    Promise.resolve(rewrite(body.toString("utf8"), this.answers)).then(
      (rewritten) => done(null, rewritten === null ? body : Buffer.from(rewritten)),
      (err: unknown) => done(err as Error),
    );
  }
}

/** An SSE stream: each event passed on as soon as it is whole, rewritten when it is a tools/list answer. */
class SseAnswer extends Transform {
  readonly #decoder = new StringDecoder("utf8");
  readonly #events = new SseEventSplitter();

  constructor(private readonly answers: ToolsListAnswers) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const events = this.#events.push(this.#decoder.write(chunk));
    if (this.#events.held > this.answers.maxHeld) return done(new TooLarge(this.answers.maxHeld));
    this.#pass(events, done);
  }

  override _flush(done: TransformCallback): void {
    const rest = this.#events.push(this.#decoder.end());
    const tail = this.#events.rest();
    this.#pass(tail === "" ? rest : [...rest, tail], done);
  }

  /** The events on, in order, in one write; synchronously unless an id must be looked up. */
  #pass(events: string[], done: TransformCallback): void {
    let out = "";
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const data = eventData(event);
      const rewritten = data === null ? null : rewrite(data, this.answers);
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
