import type { UpstreamConfig } from "../config/upstreams.js";
import { upstreamProxy, type Forward, type UpstreamOptions } from "./proxy.js";

/** An upstream as the gateway reaches it: its configuration and its own connection pool. */
export interface RoutedUpstream {
  readonly config: UpstreamConfig;
  readonly forward: Forward;
}

/** The upstream serving a request target, or null when no prefix matches. */
export type UpstreamFor = (target: string) => RoutedUpstream | null;

/**
 * Which upstream serves a request: the one whose prefix is the longest that the request target
 * starts with (prefixes end in "/", so /api/wiki/ never serves /api/wikis/). This only routes
 * what the policy allowed: a path the route table does not know is unknown_route whatever prefix
 * it lies under. Each upstream gets its own keep-alive pool, created here once.
 */
export function upstreamRouter(upstreams: readonly UpstreamConfig[], options: UpstreamOptions): UpstreamFor {
  const routed: RoutedUpstream[] = upstreams
    .map((config) => ({ config, forward: upstreamProxy(config.url, options) }))
    .sort((a, b) => b.config.prefix.length - a.config.prefix.length);
  return (target) => routed.find((u) => target.startsWith(u.config.prefix)) ?? null;
}
