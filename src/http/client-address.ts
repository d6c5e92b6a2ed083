import type { IncomingMessage } from "node:http";
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
