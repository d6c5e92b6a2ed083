import type { IncomingMessage } from "node:http";
import { isIPv4, isIPv6 } from "node:net";
import proxyAddr from "proxy-addr";

/** Decides whether a peer address is one of TOLLGATE_TRUSTED_PROXIES. */
export type TrustedProxies = (address: string, hop: number) => boolean;

/**
 * Compiles TOLLGATE_TRUSTED_PROXIES (IPs and CIDRs). Throws TypeError on an entry that is not
 * an address or a CIDR, so config validation can report it.
 */
export function compileTrustedProxies(entries: readonly string[]): TrustedProxies {
  return proxyAddr.compile([...entries]);
}

/**
 * The client's address: the socket's peer, or — when that peer is a trusted proxy — the last
 * untrusted hop of X-Forwarded-For. Used for throttling, audit and what the upstream is told.
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  if (!req.socket.remoteAddress) return "";
  return proxyAddr(req, trusted);
}

/** Whether the socket's peer is itself a trusted proxy (then X-Forwarded-* it sent are kept). */
export function peerIsTrusted(req: IncomingMessage, trusted: TrustedProxies): boolean {
  const peer = req.socket.remoteAddress;
  return peer !== undefined && trusted(peer, 0);
}

/**
 * The client a per-client limit counts against: an IPv4 address (IPv4-mapped IPv6 too) as
 * itself, an IPv6 address as its /64 (one client holds a whole /64: SLAAC, privacy addresses),
 * every spelling of an address alike; anything else as written.
 */
export function limitedClient(address: string): string {
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    const v4 = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    if (isIPv4(v4)) return v4;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, "::" and a dotted tail expanded). */
function ipv6Groups(address: string): number[] {
  const zone = address.indexOf("%");
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [parseInt(g, 16)];
          const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const gap = bare.indexOf("::");
  if (gap === -1) return parse(bare);
  const head = parse(bare.slice(0, gap));
  const tail = parse(bare.slice(gap + 2));
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
