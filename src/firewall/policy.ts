import { isIPv4, isIPv6 } from 'node:net';
import { InputError } from '../base/errors';
import type { PresetName } from '../config/defaults';
import type { FirewallSettings } from '../config/settings';
import { getPublicSuffix } from 'tldts';
import { DYN_TIMEOUT_MAX, PRIVILEGED_PORTS, RECENT_LISTS, SETS, UNPRIVILEGED_PORTS } from './sets';

/**
 * The egress policy: validation of what users type, and the batched payloads that
 * `ipset restore`, `iptables-restore` and `ip6tables-restore` apply in one call each.
 * Pure: no process is started here, so every rule is unit-tested.
 */

export interface FirewallPolicy {
  /** Lower-case host names and "*." wildcards, deduplicated, validated (names.ts). */
  domains: string[];
  /** Names and wildcards that are refused even when an allowed entry matches them. */
  denied: string[];
  /** Normalised IPv4 and IPv6 networks ("a.b.c.d/n", "x::/n"). */
  cidrs4: string[];
  cidrs6: string[];
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Validates one allow or deny entry; returns it normalised (lower case, no trailing dot).
 * `setting` names where the value came from, for the message.
 */
export function validateNameRule(raw: unknown, setting = 'hardenedDevcontainers.firewall.allowedDomains'): string {
  const shown = JSON.stringify(raw);
  if (typeof raw !== 'string') throw new InputError(`${setting}: ${shown} is not a string.`);
  const rule = raw.trim().toLowerCase().replace(/\.$/, '');
  const wildcard = rule.startsWith('*.');
  const name = wildcard ? rule.slice(2) : rule;
  if (name.includes('*')) {
    throw new InputError(`${setting}: ${shown} has a "*" that is not a leading "*.".`,
      'write "*.example.com" for every name under example.com (at any depth), or the host name itself');
  }
  if (name === '' || name.length > 253) throw new InputError(`${setting}: ${shown} must be 1 to 253 characters long.`);
  for (const label of name.split('.')) {
    if (label === '') throw new InputError(`${setting}: ${shown} has an empty label (two dots in a row, or a leading dot).`);
    if (label.length > 63) throw new InputError(`${setting}: ${shown} has a label of ${label.length} characters; at most 63 are allowed (RFC 1123).`);
    if (!LABEL.test(label)) {
      throw new InputError(`${setting}: ${shown} is not a valid host name: "${label}" may only hold letters, digits and inner hyphens (RFC 1123).`,
        'use a plain host name such as "api.example.com", or "*.example.com"');
    }
  }
  if (/^\d+$/.test(name.split('.').pop() ?? '')) {
    throw new InputError(`${setting}: ${shown} looks like an IP address.`, 'put addresses in hardenedDevcontainers.firewall.allowedCidrs');
  }
  if (wildcard) {
    const suffix = getPublicSuffix(name, { allowPrivateDomains: false }) ?? name;
    if (suffix === name) {
      throw new InputError(`${setting}: ${shown} is a wildcard over the public suffix "${name}" (Public Suffix List): it would match names that anyone can register.`,
        `name the domain you need under it, e.g. "*.example.${name}"`);
    }
  }
  return rule;
}

/** Validates one allowed name or wildcard (names.ts); returns it normalised. */
export function validateDomain(raw: unknown, setting?: string): string {
  return validateNameRule(raw, setting);
}

/** Validates "a.b.c.d[/n]" or "x::[/n]"; returns the family and the normalised network. */
export function validateCidr(raw: unknown): { family: 4 | 6; cidr: string } {
  if (typeof raw !== 'string') throw new InputError(`Allowed CIDR ${JSON.stringify(raw)} is not a string.`);
  const shown = JSON.stringify(raw);
  const [address, prefixText, extra] = raw.trim().split('/');
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0 || extra !== undefined) {
    throw new InputError(`Allowed CIDR ${shown} is not an IPv4 or IPv6 address or network.`, 'write it as 203.0.113.0/24, 203.0.113.7 or 2001:db8::/32');
  }
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) {
    throw new InputError(`Allowed CIDR ${shown} has prefix length /${prefixText}; an IPv${family} prefix must be 0 to ${max}.`);
  }
  if (prefix === 0) {
    throw new InputError(`Allowed CIDR ${shown} would allow every address.`, 'set hardenedDevcontainers.firewall.enabled to false instead, if that is really what you want');
  }
  return { family, cidr: `${family === 4 ? maskV4(address, prefix) : address.toLowerCase()}/${prefix}` };
}

function maskV4(address: string, prefix: number): string {
  const n = address.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const masked = prefix === 32 ? n : (n & (~0 << (32 - prefix))) >>> 0;
  return [24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.');
}

/** Builds a policy from settings values. Every bad entry is reported; duplicates are not errors. */
export function buildPolicy(domains: unknown, cidrs: unknown, denied: unknown = []): FirewallPolicy {
  if (!Array.isArray(domains)) throw new InputError('hardenedDevcontainers.firewall.allowedDomains must be an array of host names.');
  if (!Array.isArray(denied)) throw new InputError('hardenedDevcontainers.firewall.deniedDomains must be an array of host names.');
  if (!Array.isArray(cidrs)) throw new InputError('hardenedDevcontainers.firewall.allowedCidrs must be an array of CIDRs.');
  const problems: string[] = [];
  const names = new Set<string>();
  const nets4 = new Set<string>();
  const nets6 = new Set<string>();
  for (const d of domains) {
    try {
      names.add(validateDomain(d));
    } catch (e) {
      problems.push((e as InputError).describe());
    }
  }
  const deny = new Set<string>();
  for (const d of denied) {
    try {
      deny.add(validateDomain(d, 'hardenedDevcontainers.firewall.deniedDomains'));
    } catch (e) {
      problems.push((e as InputError).describe());
    }
  }
  for (const c of cidrs) {
    try {
      const { family, cidr } = validateCidr(c);
      (family === 4 ? nets4 : nets6).add(cidr);
    } catch (e) {
      problems.push((e as InputError).describe());
    }
  }
  if (problems.length > 0) {
    throw new InputError(`The firewall allowlist is invalid; nothing was applied.\n- ${problems.join('\n- ')}`);
  }
  return { domains: [...names].sort(), denied: [...deny].sort(), cidrs4: [...nets4].sort(), cidrs6: [...nets6].sort() };
}

/**
 * The hosts one preset contributed (firewall/presets.ts expands the names; ops/presets.ts
 * reads what the registry presets need). Defined here so that the policy, which the agent's
 * bundle holds, imports nothing of the presets' parsers.
 */
export interface PresetHosts {
  name: PresetName;
  /** Host names and "*." wildcards; an IP literal (a registry at an address) goes in as a /32 or /128. */
  hosts: string[];
  /** Where they came from, for the user: "built in", a file, a command. */
  from: string;
}

/**
 * The policy that the firewall settings describe: the presets' hosts (already expanded:
 * `presets`) and allowedDomains, deduplicated; deniedDomains still wins over both. Every
 * caller passes the expansion, so no path can drop the presets by forgetting them.
 */
export function policyFromSettings(fw: Pick<FirewallSettings, 'allowedDomains' | 'allowedCidrs' | 'deniedDomains'>, presets: readonly PresetHosts[]): FirewallPolicy {
  const names: string[] = [];
  const nets: string[] = [];
  const problems: string[] = [];
  for (const p of presets) {
    for (const host of p.hosts) {
      try {
        const bare = host.replace(/^\[(.*)\]$/, '$1');
        if (isIPv4(bare) || isIPv6(bare)) nets.push(validateCidr(bare).cidr);
        else names.push(validateDomain(host, `hardenedDevcontainers.firewall.presets: "${p.name}" (${p.from})`));
      } catch (e) {
        problems.push((e as InputError).describe());
      }
    }
  }
  if (problems.length > 0) {
    throw new InputError(`A firewall preset gave a host that cannot be allowed; nothing was applied.\n- ${problems.join('\n- ')}`);
  }
  return buildPolicy([...names, ...fw.allowedDomains], [...nets, ...fw.allowedCidrs], fw.deniedDomains);
}

/** IPv4 and IPv6 addresses or networks. */
export interface AllowSet {
  v4: string[];
  v6: string[];
}

/**
 * What the static allow sets hold: the configured CIDRs. Names are not resolved here: the
 * resolver admits the addresses of each allowed answer into the dyn sets as it happens.
 * IPv6 is opt-in: there is an IPv6 allowlist only when allowedCidrs holds an IPv6 entry;
 * otherwise every IPv6 destination but loopback is refused, whatever AAAA records say.
 */
export function allowSet(policy: FirewallPolicy): AllowSet {
  return { v4: [...policy.cidrs4], v6: [...policy.cidrs6] };
}

/**
 * `ipset restore` input that creates the sets (if missing) and loads the CIDRs atomically:
 * filled under a temporary name and swapped in, so a live update never shows an empty set.
 * The dyn sets are created (their entries carry a timeout) but never flushed here: they are
 * the resolver's. With `resetDns` (the start-time file the hook loads) the resolver sets
 * are emptied too; the hook then adds the upstream resolvers of this start.
 */
export function ipsetPayload(allow: AllowSet, options: { resetDns: boolean }): string {
  const lines: string[] = [];
  const load = (set: string, type: string, family: 'inet' | 'inet6', members: string[]): void => {
    lines.push(`create ${set}-next ${type} family ${family} -exist`, `flush ${set}-next`);
    for (const m of members) lines.push(`add ${set}-next ${m} -exist`);
    lines.push(`swap ${set}-next ${set}`, `destroy ${set}-next`);
  };
  for (const [set, type, family] of [[SETS.allow4, 'hash:net', 'inet'], [SETS.allow6, 'hash:net', 'inet6'], [SETS.dns4, 'hash:ip', 'inet'], [SETS.dns6, 'hash:ip', 'inet6']] as const) {
    lines.push(`create ${set} ${type} family ${family} -exist`);
  }
  lines.push(`create ${SETS.dyn4} hash:ip family inet timeout ${DYN_TIMEOUT_MAX} -exist`, `create ${SETS.dyn6} hash:ip family inet6 timeout ${DYN_TIMEOUT_MAX} -exist`);
  load(SETS.allow4, 'hash:net', 'inet', allow.v4);
  load(SETS.allow6, 'hash:net', 'inet6', allow.v6);
  if (options.resetDns) lines.push(`flush ${SETS.dns4}`, `flush ${SETS.dns6}`);
  return `${lines.join('\n')}\n`;
}

/** The members of the resolver sets, from `ipset save` output. */
export function parseSetMembers(save: string, set: string): string[] {
  return save.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === 'add' && f[1] === set).map((f) => f[2]);
}

/** The filter table for one family. One comment per rule says why it is there. */
export function rulesPayload(family: 4 | 6): string {
  const v6 = family === 6;
  const allow = v6 ? SETS.allow6 : SETS.allow4;
  const dyn = v6 ? SETS.dyn6 : SETS.dyn4;
  const dns = v6 ? SETS.dns6 : SETS.dns4;
  const recent = v6 ? RECENT_LISTS.v6 : RECENT_LISTS.v4;
  const unreachable = v6 ? 'icmp6-adm-prohibited' : 'icmp-admin-prohibited';
  const rules: [string, string][] = [
    ...(v6 ? [] : [['not docker\'s embedded DNS (it may ask the host\'s resolvers from outside the namespace): the filtering resolver decides every name', '-A OUTPUT -d 127.0.0.11 -j REJECT --reject-with icmp-admin-prohibited'] as [string, string]]),
    ['loopback: local services, the devcontainers CLI, and the filtering resolver that all DNS is redirected to', '-A OUTPUT -o lo -j ACCEPT'],
    ['', '-A INPUT -i lo -j ACCEPT'],
    ['replies to connections that an allowed rule let out', '-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT'],
    ['', '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT'],
    ...(v6 ? [
      ['IPv6 neighbour discovery (link-local only; no route off the link)', '-A OUTPUT -p ipv6-icmp --icmpv6-type 133 -m hl --hl-eq 255 -j ACCEPT'],
      ['', '-A OUTPUT -p ipv6-icmp --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT'],
      ['', '-A OUTPUT -p ipv6-icmp --icmpv6-type 136 -m hl --hl-eq 255 -j ACCEPT'],
      ['', '-A INPUT -p ipv6-icmp -m hl --hl-eq 255 -j ACCEPT'],
    ] as [string, string][] : []),
    ['DNS that the nat rules redirected to the filtering resolver (this chain still sees the interface the packet was first routed to, not lo)', `-A OUTPUT -p udp --dport 53 -d ${v6 ? '::1' : '127.0.0.1'} -m conntrack --ctstate DNAT -j ACCEPT`],
    ['', `-A OUTPUT -p tcp --dport 53 -d ${v6 ? '::1' : '127.0.0.1'} -m conntrack --ctstate DNAT -j ACCEPT`],
    ['DNS to the upstream resolvers (pinned at start) only from a port below 1024: only the filtering resolver can bind one', `-A OUTPUT -p udp --dport 53 --sport ${PRIVILEGED_PORTS} -m set --match-set ${dns} dst -j ACCEPT`],
    ['', `-A OUTPUT -p tcp --dport 53 --sport ${PRIVILEGED_PORTS} -m set --match-set ${dns} dst -j ACCEPT`],
    ['no other DNS: names resolve only through the filtering resolver', '-A OUTPUT -p udp --dport 53 -j REJECT --reject-with ' + unreachable],
    ['', '-A OUTPUT -p tcp --dport 53 -j REJECT --reject-with tcp-reset'],
    ['the configured CIDRs, any port and protocol', `-A OUTPUT -m set --match-set ${allow} dst -j ACCEPT`],
    ['addresses from allowed DNS answers, until their TTL runs out (the resolver adds them before it answers)', `-A OUTPUT -m set --match-set ${dyn} dst -j ACCEPT`],
    ['what is refused is recorded for the blocked log (a kernel list the workspace can read but not change)', `-A OUTPUT -m recent --name ${recent} --rdest --set`],
    ['everything else is refused at once, not left to time out', '-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset'],
    ['', `-A OUTPUT -j REJECT --reject-with ${unreachable}`],
  ];
  const body = rules.map(([why, rule]) => (why ? `# ${why}\n${rule}` : rule)).join('\n');
  return `# Hardened Dev Containers: IPv${family} egress policy (default deny)\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n${body}\nCOMMIT\n`;
}

/**
 * The nat rules for one family, loaded with `--noflush` ahead of the engine's own (docker's
 * embedded DNS has its rules there): every DNS packet from an unprivileged port, to any
 * address, goes to the filtering resolver on the loopback.
 */
export function natPayload(family: 4 | 6): string {
  return `# Hardened Dev Containers: IPv${family} DNS to the filtering resolver\n*nat\n`
    + `-I OUTPUT 1 -p udp --dport 53 --sport ${UNPRIVILEGED_PORTS} -j REDIRECT --to-ports 53\n`
    + `-I OUTPUT 2 -p tcp --dport 53 --sport ${UNPRIVILEGED_PORTS} -j REDIRECT --to-ports 53\nCOMMIT\n`;
}

/** Nameservers from a resolv.conf, validated as addresses (anything else is ignored). */
export function parseNameservers(resolvConf: string): AllowSet {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1].replace(/%.*$/, '');
    if (isIPv4(addr)) v4.push(addr);
    else if (isIPv6(addr)) v6.push(addr);
  }
  return { v4: [...new Set(v4)], v6: [...new Set(v6)] };
}
