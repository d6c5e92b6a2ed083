// Which network addresses Tollgate may fetch a client's document from (the SSRF guard's rule).
// Deny by default: only public unicast addresses pass. Refused, among others: loopback, private
// (RFC 1918), link-local (with the cloud metadata address 169.254.169.254), CGNAT 100.64/10,
// 0.0.0.0/8, unique-local fc00::/7 (with fd00:ec2::254), and every IPv6 form that embeds an IPv4
// address (NAT64, 6to4, Teredo): an IPv4-mapped address (::ffff:a.b.c.d) is judged as the IPv4
// address it maps.
import ipaddr from "ipaddr.js";

/** IPv6 global unicast (2000::/3): the only IPv6 block allocated for public hosts. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");

export interface AddressGuardOptions {
  /** TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS (development and tests only): loopback addresses pass too. */
  allowLoopback?: boolean;
}

/** Why an address is refused, or null when Tollgate may connect to it. */
export function refusedAddress(address: string, options: AddressGuardOptions = {}): string | null {
  if (!ipaddr.isValid(address)) return "not an IP address";
  const ip = ipaddr.process(address); // ::ffff:a.b.c.d → a.b.c.d
  const range = ip.range();
  if (range === "loopback" && options.allowLoopback) return null;
  if (range !== "unicast") return `${range} address`;
  if (ip.kind() === "ipv6" && !ip.match(IPV6_GLOBAL_UNICAST)) return "not a global unicast address";
  return null;
}
