// The gateway is a process of its own inside the sidecar (like the resolver): it supervises
// podman's service with Node's child_process (an argv array, no shell), without execa.
// eslint-disable-next-line no-restricted-imports
import { spawn } from 'node:child_process';
import { closeSync, constants, lstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { augmentInspect, GATEWAY_HOSTS, GatewayRefusal, hostsFile, mapBuildUrl, mapCreate, namesOfLabels, routeOf, type CreateBody } from './gatewayRewrite';

/**
 * The Podman sidecar's API gateway (runs inside the sidecar, by the host's Node, as its
 * entrypoint): starts `podman system service` on a socket of the sidecar's own, serves the
 * socket that the workspace mounts, and passes every request through, rewriting the few that
 * ask for a network the sidecar cannot build (gatewayRewrite.ts says which and how).
 * Hijacked streams (attach, exec) are piped as they are.
 */

interface Options { listen: string; podman: string }

function parseArgs(argv: string[]): Options {
  const o: Partial<Options> = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--listen') o.listen = argv[i + 1];
    else if (argv[i] === '--podman-socket') o.podman = argv[i + 1];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!o.listen || !o.podman) throw new Error('usage: sidecar-gateway --listen SOCKET --podman-socket SOCKET');
  return o as Options;
}

/** One request to podman's own socket; the whole answer. */
function upstream(socketPath: string, method: string, url: string, headers: http.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A JSON body the gateway reads whole is small: a larger one is refused, not buffered. */
const MAX_BODY = 4 * 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { req.destroy(); reject(new GatewayRefusal(`the request body is over ${MAX_BODY} bytes`, 413)); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(value === undefined ? '' : JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

/** Request headers for a rewritten body: its new length, no chunking. */
function headersFor(req: http.IncomingMessage, body: Buffer): http.OutgoingHttpHeaders {
  const h: http.OutgoingHttpHeaders = { ...req.headers };
  delete h['transfer-encoding'];
  h['content-length'] = body.length;
  return h;
}

/** The hosts file, in place (every nested container mounts this inode), never through a link. */
function writeHosts(file: string, content: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try { writeSync(fd, content); } finally { closeSync(fd); }
}

export class Gateway {
  /** Aliases given by network connect (a running container's labels cannot change). */
  private readonly connected = new Map<string, Set<string>>();

  constructor(private readonly podman: string, private readonly hosts = GATEWAY_HOSTS) {}

  /** Rewrites the hosts file in place (every nested container mounts this inode). */
  async refreshHosts(): Promise<void> {
    const r = await upstream(this.podman, 'GET', '/containers/json?all=true', {});
    const list = r.status === 200 ? JSON.parse(r.body.toString('utf8')) as { Labels?: Record<string, string> | null }[] : [];
    const names = list.flatMap((c) => namesOfLabels(c.Labels)?.aliases ?? []);
    for (const set of this.connected.values()) names.push(...set);
    writeHosts(this.hosts, hostsFile(names.slice(0, 10_000)));
  }

  /** One request: rewritten if it must be, else piped both ways. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    try {
      const route = routeOf(method, url);
      switch (route.kind) {
        case 'create': {
          const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as CreateBody;
          const mapped = mapCreate(body, route.name);
          if (!mapped) return this.forward(req, res, url, Buffer.from(JSON.stringify(body)));
          for (const n of mapped.networks) {
            const r = await upstream(this.podman, 'GET', `/networks/${encodeURIComponent(n)}`, {});
            if (r.status !== 200) return sendJson(res, 404, { message: `network ${n} not found` });
          }
          const out = Buffer.from(JSON.stringify(mapped.body));
          const r = await upstream(this.podman, method, url, headersFor(req, out), out);
          // The container exists now: a hosts file that cannot be refreshed must not make the create look failed.
          if (r.status < 300) await this.refreshHosts().catch(() => undefined);
          res.writeHead(r.status, { 'Content-Type': r.headers['content-type'] ?? 'application/json', 'Content-Length': r.body.length });
          return void res.end(r.body);
        }
        case 'inspect': {
          const r = await upstream(this.podman, method, url, { ...req.headers });
          if (r.status !== 200) {
            res.writeHead(r.status, { 'Content-Type': r.headers['content-type'] ?? 'application/json', 'Content-Length': r.body.length });
            return void res.end(r.body);
          }
          const view = JSON.parse(r.body.toString('utf8')) as Parameters<typeof augmentInspect>[0] & { Id?: string };
          return sendJson(res, 200, augmentInspect(view, [...(this.connected.get(view.Id ?? '') ?? [])]));
        }
        case 'connect':
        case 'disconnect': {
          const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { Container?: string; EndpointConfig?: { Aliases?: unknown } };
          const net = await upstream(this.podman, 'GET', `/networks/${encodeURIComponent(route.network)}`, {});
          if (net.status !== 200) return sendJson(res, 404, { message: `network ${route.network} not found` });
          const c = await upstream(this.podman, 'GET', `/containers/${encodeURIComponent(body.Container ?? '')}/json`, {});
          if (c.status !== 200) return sendJson(res, 404, { message: `no such container: ${body.Container ?? ''}` });
          const info = JSON.parse(c.body.toString('utf8')) as { Id: string; Name?: string };
          if (route.kind === 'connect') {
            const aliases = Array.isArray(body.EndpointConfig?.Aliases) ? body.EndpointConfig.Aliases.filter((a): a is string => typeof a === 'string') : [];
            this.connected.set(info.Id, new Set([...(this.connected.get(info.Id) ?? []), ...aliases, (info.Name ?? '').replace(/^\//, '')].filter(Boolean)));
          } else {
            this.connected.delete(info.Id);
          }
          await this.refreshHosts();
          return sendJson(res, 200, undefined);
        }
        case 'waitRemoved': {
          // The headers at once (the client starts the container only then), the exit code
          // from a wait for the exit, the answer once the container is gone (auto-remove).
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.flushHeaders();
          const id = encodeURIComponent(route.id);
          const exit = await upstream(this.podman, 'POST', `/containers/${id}/wait?condition=next-exit`, {});
          for (let i = 0; i < 300; i++) {
            if ((await upstream(this.podman, 'GET', `/containers/${id}/json`, {})).status === 404) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const text = exit.body.toString('utf8');
          return void res.end(exit.status === 200 ? text : JSON.stringify({ StatusCode: -1, Error: { Message: text.trim() } }));
        }
        case 'remove':
          // The removed container's names leave the hosts file.
          await this.forward(req, res, url);
          return void await this.refreshHosts().catch(() => undefined);
        case 'build':
          return this.forward(req, res, mapBuildUrl(url));
        default:
          return this.forward(req, res, url);
      }
    } catch (e) {
      if (res.headersSent) return void res.destroy();
      if (e instanceof GatewayRefusal) return sendJson(res, e.status, { message: e.message });
      return sendJson(res, 500, { message: `hdc sidecar gateway: ${(e as Error).message}` });
    }
  }

  /** Pipes a request to podman and its answer back, streaming both (builds, logs, events). */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, url: string, body?: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const up = http.request({ socketPath: this.podman, method: req.method, path: url, headers: body ? headersFor(req, body) : req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.rawHeaders);
        // At once: a client waits for the headers of a long poll (wait?condition=next-exit
        // before a start, events) before it goes on.
        res.flushHeaders();
        r.pipe(res);
        r.on('end', resolve);
        r.on('error', () => { res.destroy(); resolve(); });
      });
      up.on('error', (e) => {
        if (!res.headersSent) sendJson(res, 502, { message: `hdc sidecar gateway: podman's service did not answer: ${e.message}` });
        else res.destroy();
        resolve();
      });
      res.on('close', () => up.destroy());
      if (body) up.end(body);
      else req.pipe(up);
    });
  }

  /** A hijacked stream (attach, exec start): the request as it came, then bytes both ways. */
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const up = net.connect(this.podman);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    const close = (): void => { up.destroy(); socket.destroy(); };
    up.on('error', close);
    socket.on('error', close);
    up.pipe(socket);
    socket.pipe(up);
  }
}

async function waitForPodman(socketPath: string, child: { exitCode: number | null }): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`podman system service exited (${child.exitCode})`);
    const ok = await upstream(socketPath, 'GET', '/_ping', {}).then((r) => r.status === 200, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error('podman system service did not answer within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  mkdirSync(path.dirname(o.podman), { recursive: true, mode: 0o700 });
  mkdirSync(path.dirname(GATEWAY_HOSTS), { recursive: true, mode: 0o755 });
  writeHosts(GATEWAY_HOSTS, hostsFile([]));
  const child = spawn('podman', ['system', 'service', '--time', '0', `unix://${o.podman}`], { stdio: 'inherit' });
  const stop = (): void => { child.kill('SIGTERM'); };
  process.on('SIGTERM', () => { stop(); process.exit(0); });
  process.on('SIGINT', () => { stop(); process.exit(0); });
  child.on('exit', (code) => { process.stderr.write(`hdc sidecar gateway: podman system service exited (${code}); stopping\n`); process.exit(1); });
  await waitForPodman(o.podman, child);

  const gateway = new Gateway(o.podman);
  await gateway.refreshHosts();
  // One bad request must not take the sidecar (the gateway is its first process) down.
  process.on('unhandledRejection', (e) => { process.stderr.write(`hdc sidecar gateway: ${(e as Error)?.message ?? String(e)}\n`); });
  const server = http.createServer((req, res) => { gateway.handle(req, res).catch(() => res.destroy()); });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => gateway.upgrade(req, socket, head));
  // Streams (events, logs -f, long builds) stay open as long as the client wants.
  server.requestTimeout = 0;
  server.timeout = 0;
  server.keepAliveTimeout = 60_000;
  try {
    if (lstatSync(o.listen).isSocket()) rmSync(o.listen);
  } catch { /* not there */ }
  // The socket is made 0660 (no chmod through a path the workspace could swap).
  const umask = process.umask(0o117);
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.listen, resolve); });
  process.umask(umask);
  process.stdout.write(`hdc sidecar gateway: serving ${o.listen} (podman at ${o.podman})\n`);
}
