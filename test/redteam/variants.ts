// Spellings of a route literal that an upstream may read as the literal itself (case-insensitive
// routing, ";params" cut by Tomcat/Jetty, ".json" suffixes, percent-decoding, Unicode case
// folding, whitespace trimming) but that are not the literal. Each is one path segment as sent.

const hex = (c: string): string => c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
const fullwidth = (c: string): string => String.fromCharCode(0xff21 + c.toUpperCase().charCodeAt(0) - 65);

export function literalVariants(word: string): Array<[label: string, segment: string]> {
  const upperLast = word.slice(0, -1) + word.slice(-1).toUpperCase();
  return [
    ["upper case", word.toUpperCase()],
    ["capitalised", word[0]!.toUpperCase() + word.slice(1)],
    ["last letter upper", upperLast],
    [";x=1", `${word};x=1`],
    ["%3B", `${word}%3B`],
    ["%3b then jsessionid", `${word}%3bjsessionid=1`],
    [".json", `${word}.json`],
    [".xml", `${word}.xml`],
    ["trailing dot", `${word}.`],
    ["%20", `${word}%20`],
    ["%09", `${word}%09`],
    ["%00", `${word}%00`],
    ["%2F", `${word}%2F`],
    ["%5C", `${word}%5C`],
    ["%2E", `${word}%2E`],
    ["%3F", `${word}%3F`],
    ["%23", `${word}%23`],
    ["first letter escaped", `%${hex(word[0]!)}${word.slice(1)}`],
    ["last letter escaped, lower-case hex", `${word.slice(0, -1)}%${hex(word.slice(-1)).toLowerCase()}`],
    ["every letter escaped", [...word].map((c) => `%${hex(c)}`).join("")],
    ["double-encoded first letter", `%25${hex(word[0]!)}${word.slice(1)}`],
    ["overlong / suffix", `${word}%C0%AF`],
    ["IIS %u escape", `%u00${hex(word[0]!).toLowerCase()}${word.slice(1)}`],
    ["escaped fullwidth letters", [...word].map((c) => encodeURIComponent(fullwidth(c))).join("")],
    ["escaped Kelvin sign suffix", `${word}%E2%84%AA`],
    ["escaped long s suffix", `${word}%C5%BF`],
    ["escaped dotless i suffix", `${word}%C4%B1`],
    ["+ suffix", `${word}+`],
    ["~ suffix", `${word}~`],
    ["* suffix", `${word}*`],
    ["! suffix", `${word}!`],
    ["$ suffix", `${word}$`],
    ["' suffix", `${word}'`],
    ["( suffix", `${word}(`],
    ["@ suffix", `${word}@`],
    [": suffix", `${word}:`],
    ["15 KB suffix", word + "a".repeat(15_000)],
    ["257-byte segment", word + "a".repeat(257 - word.length)],
  ];
}

/** The write routes reached with GET, as builds/{build}/<literal> or jobs/{job}/<literal>. */
export const WRITE_VIA_GET = [
  ["builds/b1", "restart"],
  ["builds/b1", "abort"],
  ["jobs/j1", "restart"],
  ["jobs/j1", "rerun"],
  ["jobs/j1", "abort"],
] as const;
