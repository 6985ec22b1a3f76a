/**
 * The Podman sidecar's API gateway, its decisions (pure; gateway.ts does the I/O).
 *
 * Every nested container shares the sidecar's network namespace, which is behind the
 * sidecar's firewall and filtering resolver, and the sidecar holds no NET_ADMIN there: it
 * cannot build a bridge. Docker clients ask for one all the time (`docker run` without
 * --network means "bridge"; compose and testcontainers make networks and put containers on
 * them). The gateway sits between the socket that the workspace sees and podman's own, and
 * maps every such request onto the sidecar's namespace:
 * - a container on the default, "bridge" or a user network runs with `--network host` (the
 *   sidecar's namespace); the network's name and the container's aliases go into labels;
 * - names resolve between nested containers through one hosts file that the gateway keeps
 *   (every container name and alias → 127.0.0.1), mounted read-only as each one's /etc/hosts;
 * - a port is published as itself (`-p 80` or `-p 80:80`: the service listens on port 80 of
 *   the sidecar's namespace); another host port is refused with a message that says why;
 * - `docker build`'s RUN steps use the sidecar's namespace too;
 * - a network connect or disconnect succeeds without touching the (already shared) namespace;
 * - `docker run --rm` gets the container's exit code (podman 4.3 answers a wait for
 *   "removed" with 0 whatever the code was): the gateway waits for the exit, then the removal.
 * Nothing here adds a capability or a route: the firewall does not depend on the gateway,
 * and none of this is enforcement (a nested container can reach podman's own socket, and the
 * libpod API passes as it is): it makes Docker clients work in a namespace that stays firewalled.
 */

export const LABEL_NETWORKS = 'io.hardened-devcontainers.networks';
export const LABEL_PORTS = 'io.hardened-devcontainers.ports';
/** The hosts file in the sidecar that every nested container on a mapped network mounts. */
export const GATEWAY_HOSTS = '/run/hdc-gateway/hosts';

/** A host name that may go into a hosts file (no spaces, no newlines: nothing else fits in a line). */
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,252})$/;

export class GatewayRefusal extends Error {
  constructor(message: string, readonly status = 400) { super(message); }
}

export type Route =
  | { kind: 'create'; name?: string }
  | { kind: 'inspect'; id: string }
  | { kind: 'connect' | 'disconnect'; network: string }
  | { kind: 'build' }
  | { kind: 'remove'; id: string }
  | { kind: 'waitRemoved'; id: string }
  | { kind: 'pass' };

/** Which of the Docker API's requests the gateway rewrites (any /vX.Y prefix; the libpod API passes). */
export function routeOf(method: string, url: string): Route {
  const u = new URL(url, 'http://d');
  const p = u.pathname.replace(/^\/v\d+(?:\.\d+)?(?=\/)/, '');
  if (p.startsWith('/libpod/')) return { kind: 'pass' };
  if (method === 'POST' && p === '/containers/create') return { kind: 'create', name: u.searchParams.get('name') ?? undefined };
  if (method === 'POST' && p === '/build') return { kind: 'build' };
  let m = /^\/containers\/([^/]+)\/json$/.exec(p);
  if (method === 'GET' && m) return { kind: 'inspect', id: decodeURIComponent(m[1]) };
  m = /^\/containers\/([^/]+)\/wait$/.exec(p);
  if (method === 'POST' && m && u.searchParams.get('condition') === 'removed') return { kind: 'waitRemoved', id: decodeURIComponent(m[1]) };
  m = /^\/containers\/([^/]+)$/.exec(p);
  if (method === 'DELETE' && m) return { kind: 'remove', id: decodeURIComponent(m[1]) };
  m = /^\/networks\/([^/]+)\/(connect|disconnect)$/.exec(p);
  if (method === 'POST' && m) return { kind: m[2] as 'connect' | 'disconnect', network: decodeURIComponent(m[1]) };
  return { kind: 'pass' };
}

interface EndpointConfig { Aliases?: unknown }
export interface CreateBody {
  Hostname?: unknown;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, unknown> | null;
  HostConfig?: {
    NetworkMode?: string;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
    PublishAllPorts?: boolean;
    Binds?: string[] | null;
    Mounts?: { Target?: string }[] | null;
    [k: string]: unknown;
  } | null;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointConfig | null> | null } | null;
  [k: string]: unknown;
}

/** What a create asks for, once mapped: the body for podman, the user networks to check, the names to resolve. */
export interface MappedCreate {
  body: CreateBody;
  /** User networks named (not default/bridge): each must exist, as with a real engine. */
  networks: string[];
  names: string[];
}

const SHARED = new Set(['', 'default', 'bridge']);
const isOwnMode = (mode: string): boolean => mode === 'host' || mode === 'none' || mode.startsWith('container:') || mode.startsWith('ns:');

/**
 * A container create, mapped onto the sidecar's namespace; undefined when it needs no mapping
 * (`--network host`, `none`, `container:X`). Throws GatewayRefusal for a port it cannot publish.
 */
export function mapCreate(body: CreateBody, name: string | undefined): MappedCreate | undefined {
  const host = { ...(body.HostConfig ?? {}) };
  const mode = host.NetworkMode ?? '';
  if (isOwnMode(mode)) return undefined;
  const endpoints = body.NetworkingConfig?.EndpointsConfig ?? {};
  const networks = [...new Set([...(SHARED.has(mode) ? [] : [mode]), ...Object.keys(endpoints).filter((n) => !SHARED.has(n))])];
  const aliases = Object.values(endpoints).flatMap((e) => (Array.isArray(e?.Aliases) ? e.Aliases : []));
  const names = [...new Set([name, typeof body.Hostname === 'string' ? body.Hostname : undefined, ...aliases]
    .filter((n): n is string => typeof n === 'string' && HOST_NAME.test(n)))];

  const published: string[] = [];
  for (const [port, bindings] of Object.entries(host.PortBindings ?? {})) {
    const own = port.split('/')[0];
    for (const b of bindings ?? []) {
      if (b.HostPort && b.HostPort !== own) {
        throw new GatewayRefusal(`hdc's Podman sidecar runs every container in its own network namespace (behind its firewall): port ${port} cannot be published as ${b.HostPort}. `
          + `Publish it as itself (-p ${own}:${own}, or -p ${own}); other containers reach it at localhost:${own}.`);
      }
    }
    published.push(port);
  }
  if (host.PublishAllPorts) published.push(...Object.keys(body.ExposedPorts ?? {}));
  delete host.PortBindings;
  delete host.PublishAllPorts;
  host.NetworkMode = 'host';
  // The gateway's hosts file, unless the request mounts its own /etc/hosts.
  const ownHosts = (host.Binds ?? []).some((b) => b.split(':')[1] === '/etc/hosts') || (host.Mounts ?? []).some((m) => m.Target === '/etc/hosts');
  if (!ownHosts) host.Binds = [...(host.Binds ?? []), `${GATEWAY_HOSTS}:/etc/hosts:ro`];
  const labels: Record<string, string> = { ...(body.Labels ?? {}), [LABEL_NETWORKS]: JSON.stringify({ networks: networks.length ? networks : ['bridge'], aliases: names }) };
  if (published.length) labels[LABEL_PORTS] = JSON.stringify([...new Set(published)]);
  const mapped: CreateBody = { ...body, HostConfig: host, Labels: labels };
  delete mapped.NetworkingConfig;
  return { body: mapped, networks, names };
}

/** The names a container's labels carry (what mapCreate recorded). */
export function namesOfLabels(labels: Record<string, string> | null | undefined): { networks: string[]; aliases: string[] } | undefined {
  const raw = labels?.[LABEL_NETWORKS];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as { networks?: unknown; aliases?: unknown };
    const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
    return { networks: strings(v.networks), aliases: strings(v.aliases).filter((n) => HOST_NAME.test(n)) };
  } catch {
    return undefined;
  }
}

/** The hosts file: localhost, then every name → 127.0.0.1 (all nested containers share one namespace). */
export function hostsFile(names: Iterable<string>): string {
  const valid = [...new Set([...names].filter((n) => HOST_NAME.test(n) && n !== 'localhost'))].sort();
  return ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', ...valid.map((n) => `127.0.0.1\t${n}`), ''].join('\n');
}

interface InspectView {
  Config?: { Labels?: Record<string, string> | null } | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null; Ports?: Record<string, unknown> | null; [k: string]: unknown } | null;
  [k: string]: unknown;
}

/**
 * A container's inspect as a Docker client expects it after a mapped create: on the networks it
 * asked for (address 127.0.0.1: the shared namespace), its published ports as themselves.
 */
export function augmentInspect(view: InspectView, extraAliases: string[] = []): InspectView {
  const labels = view.Config?.Labels ?? {};
  const recorded = namesOfLabels(labels);
  if (!recorded) return view;
  const settings = { ...(view.NetworkSettings ?? {}) };
  const networks: Record<string, unknown> = {};
  for (const n of recorded.networks) {
    networks[n] = { Aliases: [...recorded.aliases, ...extraAliases], IPAddress: '127.0.0.1', Gateway: '', IPPrefixLen: 8, NetworkID: n, EndpointID: '', MacAddress: '' };
  }
  settings.Networks = networks;
  let ports: string[] = [];
  try { ports = JSON.parse(labels[LABEL_PORTS] ?? '[]') as string[]; } catch { ports = []; }
  if (ports.length) settings.Ports = Object.fromEntries(ports.map((p) => [p, [{ HostIp: '0.0.0.0', HostPort: p.split('/')[0] }]]));
  return { ...view, NetworkSettings: settings };
}

/** A build's query: RUN steps in the sidecar's namespace (a bridge cannot be built there). */
export function mapBuildUrl(url: string): string {
  const u = new URL(url, 'http://d');
  const mode = u.searchParams.get('networkmode') ?? '';
  if (mode !== 'none' && mode !== 'host') u.searchParams.set('networkmode', 'host');
  return `${u.pathname}${u.search}`;
}
