// Server-sent events (the WHATWG event stream format) as a proxy that rewrites some events needs
// them: the stream cut into whole events however its chunks fall, each event's data, and an event
// with its data replaced. An event ends at an empty line; a line ends at CRLF, LF or CR.

const LINE_END = /[\r\n]/g;

/** Cuts a stream's text into whole events (each with the empty line that ends it). */
export class SseEventSplitter {
  #buffer = "";
  /** Where the search for the next line end resumes. */
  #scan = 0;
  /** Where the current line starts. */
  #lineStart = 0;

  /** The events `text` completes, in order; the rest is held for the next push. */
  push(text: string): string[] {
    this.#buffer = this.#buffer.length === 0 ? text : this.#buffer + text;
    const events: string[] = [];
    const buffer = this.#buffer;
    let eventStart = 0;
    /** Where the next push resumes the search: all of it scanned, unless a CR at the end waits. */
    let resume = buffer.length;
    LINE_END.lastIndex = this.#scan;
    for (let m = LINE_END.exec(buffer); m !== null; m = LINE_END.exec(buffer)) {
      let end = m.index + 1;
      if (buffer.charCodeAt(m.index) === 0x0d) {
        // A CR at the end of what has arrived may be the first half of CRLF: wait for the next byte.
        if (end === buffer.length) {
          resume = m.index;
          break;
        }
        if (buffer.charCodeAt(end) === 0x0a) end++;
      }
      const empty = m.index === this.#lineStart;
      this.#lineStart = end;
      LINE_END.lastIndex = end;
      if (empty) {
        events.push(buffer.slice(eventStart, end));
        eventStart = end;
      }
    }
    this.#buffer = eventStart === 0 ? buffer : buffer.slice(eventStart);
    this.#scan = resume - eventStart;
    this.#lineStart -= eventStart;
    return events;
  }

  /** Characters of an event not yet complete. */
  get held(): number {
    return this.#buffer.length;
  }

  /** What is left when the stream ends (an event without its empty line, which clients drop). */
  rest(): string {
    const rest = this.#buffer;
    this.#buffer = "";
    this.#scan = 0;
    this.#lineStart = 0;
    return rest;
  }
}

function lines(event: string): string[] {
  const all = event.split(/\r\n|\r|\n/);
  // The empty line that ends the event, and the empty string after its line end.
  return all.slice(0, Math.max(0, all.length - 2));
}

/** The event's data (its data lines joined by LF, as a client reads it); null without any. */
export function eventData(event: string): string | null {
  let data: string | null = null;
  for (const line of lines(event)) {
    if (!line.startsWith("data")) continue;
    const value = fieldValue(line, "data");
    if (value === null) continue;
    data = data === null ? value : `${data}\n${value}`;
  }
  return data;
}

/** The value of `line` when its field is `name` (one space after the colon dropped); null otherwise. */
function fieldValue(line: string, name: string): string | null {
  if (line.length === name.length) return line === name ? "" : null;
  if (line.charCodeAt(name.length) !== 0x3a /* : */ || !line.startsWith(name)) return null;
  return line.charCodeAt(name.length + 1) === 0x20 ? line.slice(name.length + 2) : line.slice(name.length + 1);
}

/**
 * The event with its data replaced by `data` (one line: no CR or LF in it), in place of its first
 * data line; every other field (id, event, retry, comments) kept as it was, lines ending in LF.
 */
export function withData(event: string, data: string): string {
  let out = "";
  let placed = false;
  for (const line of lines(event)) {
    if (fieldValue(line, "data") !== null) {
      if (!placed) out += `data: ${data}\n`;
      placed = true;
      continue;
    }
    out += `${line}\n`;
  }
  if (!placed) out += `data: ${data}\n`;
  return `${out}\n`;
}
