/**
 * @agentplane/sandbox — where a tool call may connect. Only http and https; the URL's host must
 * be allowlisted for the tool; loopback, private, link-local, metadata and other special
 * addresses are refused unless the allowlist names that address literally — checked on the
 * URL (every IPv4 spelling the WHATWG parser normalises: decimal, hex, octal, short forms; IPv6
 * and IPv4-mapped/NAT64-embedded IPv4) and again on every address DNS answers, at connect time,
 * so the address checked is the address used (no rebinding window).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent } from 'undici';

export interface SandboxPolicy {
  /** The tool's allowlist: `host` (any port) or `host:port`; IPv6 as `[::1]:8080`. */
  readonly allowedHosts: readonly string[];
}

export type Verdict = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

const v4 = new BlockList();
const v6 = new BlockList();
const V4_RANGES: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6_RANGES: Array<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];
for (const [net, prefix] of V4_RANGES) v4.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of V6_RANGES) v6.addSubnet(net, prefix, 'ipv6');
// One list per range, built once: naming the range is on every call to an allowlisted
// private or loopback address.
const labelled = (ranges: Array<[string, number, string]>, family: 'ipv4' | 'ipv6'): Array<[BlockList, string]> =>
  ranges.map(([net, prefix, label]) => {
    const one = new BlockList();
    one.addSubnet(net, prefix, family);
    return [one, label];
  });
const V4_LABELLED = labelled(V4_RANGES, 'ipv4');
const V6_LABELLED = labelled(V6_RANGES, 'ipv6');

/** Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, Alibaba, AWS IPv6): named in the reason. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254']);
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata', 'metadata.azure.com', 'instance-data', 'instance-data.ec2.internal']);

function rangeOf(ranges: Array<[BlockList, string]>, list: BlockList, ip: string, family: 'ipv4' | 'ipv6'): string | undefined {
  if (!list.check(ip, family)) return undefined;
  for (const [one, label] of ranges) {
    if (one.check(ip, family)) return label;
  }
  return 'special-purpose';
}

/** The IPv4 address embedded in an IPv4-mapped (::ffff:a.b.c.d), -compatible or NAT64 (64:ff9b::/96) IPv6 address. */
export function embeddedIPv4(ip6: string): string | undefined {
  const full = expandIPv6(ip6);
  if (!full) return undefined;
  const words = full.split(':').map((w) => parseInt(w, 16));
  const low = (words[6]! << 16) | words[7]!;
  const tail = [low >>> 24, (low >>> 16) & 255, (low >>> 8) & 255, low & 255].join('.');
  const zeros5 = words.slice(0, 5).every((w) => w === 0);
  if (zeros5 && words[5] === 0xffff) return tail; // ::ffff:a.b.c.d (mapped)
  if (zeros5 && words[5] === 0 && (words[6]! !== 0 || words[7]! > 1)) return tail; // ::a.b.c.d (deprecated compatible)
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) return tail; // NAT64
  return undefined;
}

function expandIPv6(ip: string): string | undefined {
  let s = ip.replace(/^\[|\]$/g, '').toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return undefined;
  // A dotted tail (::ffff:1.2.3.4) becomes two hex words.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const p = dotted[1]!.split('.').map(Number);
    s = s.slice(0, -dotted[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  const words = [...h, ...fill, ...t];
  if (words.length !== 8) return undefined;
  return words.map((w) => w.padStart(4, '0')).join(':');
}

/** Why an IP address is off limits, or undefined for an ordinary public address. */
export function blockedAddressReason(ip: string): string | undefined {
  const bare = ip.replace(/^\[|\]$/g, '');
  const fam = isIP(bare);
  if (fam === 4) {
    if (METADATA_ADDRESSES.has(bare)) return `${bare} is a cloud metadata address`;
    const r = rangeOf(V4_LABELLED, v4, bare, 'ipv4');
    return r ? `${bare} is a ${r} address` : bare === '255.255.255.255' ? `${bare} is the broadcast address` : undefined;
  }
  if (fam === 6) {
    const full = expandIPv6(bare);
    const embedded = embeddedIPv4(bare);
    if (embedded) {
      const inner = blockedAddressReason(embedded);
      return inner ? `${bare} embeds IPv4 ${embedded}: ${inner}` : undefined;
    }
    if (full && [...METADATA_ADDRESSES].some((m) => isIP(m) === 6 && expandIPv6(m) === full)) return `${bare} is a cloud metadata address`;
    const r = rangeOf(V6_LABELLED, v6, bare, 'ipv6');
    return r ? `${bare} is a ${r} address` : undefined;
  }
  return `${ip} is not an IP address`;
}

function defaultPort(u: URL): string {
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}

function entryMatches(entry: string, hostname: string, port: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim().toLowerCase());
  if (!m) return false;
  let host = m[1]!;
  // Compare IP literals by value: `[::ffff:127.0.0.1]` in an allowlist is `[::ffff:7f00:1]`.
  try {
    host = new URL(`http://${host}/`).hostname;
  } catch {
    return false;
  }
  return host === hostname && (m[2] === undefined || m[2] === port);
}

/** True when the allowlist names this IP address literally (with any port). */
function addressAllowlisted(ip: string, policy: SandboxPolicy): boolean {
  let host: string;
  try {
    host = new URL(isIP(ip) === 6 ? `http://[${ip}]/` : `http://${ip}/`).hostname;
  } catch {
    return false;
  }
  return policy.allowedHosts.some((e) => entryMatches(e.trim().replace(/:(\d+)$/, ''), host, ''));
}

/**
 * Checks a URL before any connection: scheme, allowlisted host, and (for IP literals, in any
 * spelling) the address itself. Hostnames are checked again on what DNS answers (`guardedLookup`).
 */
export function checkUrl(raw: string | URL, policy: SandboxPolicy): Verdict {
  let u: URL;
  try {
    u = typeof raw === 'string' ? new URL(raw) : raw;
  } catch {
    return { ok: false, reason: `not a valid URL: ${String(raw).slice(0, 200)}` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, reason: `scheme ${u.protocol} is not allowed (only http and https)` };
  if (u.username || u.password) return { ok: false, reason: 'credentials in the URL are not allowed' };
  const hostname = u.hostname.toLowerCase();
  const port = defaultPort(u);
  const literal = hostname.replace(/^\[|\]$/g, '');
  const allowlisted = policy.allowedHosts.some((e) => entryMatches(e, hostname, port));
  if (isIP(literal)) {
    const why = blockedAddressReason(literal);
    if (why && !allowlisted) return { ok: false, reason: `${u.host} is blocked: ${why} and not allowlisted` };
  } else if (METADATA_NAMES.has(hostname) && !allowlisted) {
    return { ok: false, reason: `${u.host} is blocked: a cloud metadata host name` };
  }
  if (!allowlisted) return { ok: false, reason: `${u.host} is not in the tool's allowedHosts (${policy.allowedHosts.join(', ')})` };
  return { ok: true, url: u };
}

export class SandboxBlockedError extends Error {
  readonly code = 'EBLOCKED';
  constructor(message: string) {
    super(message);
    this.name = 'SandboxBlockedError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type LookupFn = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/** True when the allowlist names this host name (not an IP literal) itself, with or without a port. */
export function hostnameAllowlisted(hostname: string, policy: SandboxPolicy): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (isIP(name.replace(/^\[|\]$/g, ''))) return false;
  return policy.allowedHosts.some((e) => {
    const m = /^([^:[\]]+)(?::\d+)?$/.exec(e.trim().toLowerCase());
    return m !== null && m[1]!.replace(/\.$/, '') === name;
  });
}

/**
 * A `lookup` for net/tls connect that resolves every address and refuses the connection when
 * any answer is special-purpose, unless the allowlist names that address literally or names the
 * host name itself: listing `db.internal:8443` is an explicit opt-in to wherever that name points
 * (an internal service on a private address; `localhost` on loopback). Cloud metadata addresses
 * stay blocked behind a name: only listing the address itself opens them, so a rebinding DNS
 * answer for a trusted name cannot reach credentials.
 */
export function guardedLookup(policy: SandboxPolicy, resolve: LookupFn = dnsLookup as unknown as LookupFn): LookupFn {
  return (hostname, options, callback) => {
    const byName = hostnameAllowlisted(hostname, policy);
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = (Array.isArray(addresses) ? addresses : [{ address: addresses as string, family: isIP(addresses as string) }]) as LookupAddress[];
      if (list.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      for (const a of list) {
        const why = blockedAddressReason(a.address);
        const optedIn = byName && !/metadata/.test(why ?? '');
        if (why && !optedIn && !addressAllowlisted(a.address, policy)) {
          return callback(new SandboxBlockedError(`${hostname} resolves to ${a.address}: ${why}`) as NodeJS.ErrnoException, '');
        }
      }
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** An undici dispatcher (for `fetch(url, { dispatcher })`) whose connections go through `guardedLookup`. */
export function sandboxDispatcher(policy: SandboxPolicy, opts: { resolve?: LookupFn; connections?: number } = {}): Agent {
  return new Agent({
    connect: { lookup: guardedLookup(policy, opts.resolve) as never },
    ...(opts.connections ? { connections: opts.connections } : {}),
  });
}

/** The blocked reason carried by a fetch error (its cause chain), if the sandbox refused it. */
export function blockedReasonOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; e && typeof e === 'object' && i < 5; i++) {
    if ((e as { code?: unknown }).code === 'EBLOCKED') return (e as Error).message;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
