import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Gateway } from '../../src/sidecar/gateway';
import { augmentInspect, GatewayRefusal, hostsFile, LABEL_NETWORKS, LABEL_PORTS, mapBuildUrl, mapCreate, routeOf } from '../../src/sidecar/gatewayRewrite';

describe('sidecar API gateway: what it rewrites (pure)', () => {
  it('routes the Docker API\'s create, inspect, build, remove and network connect, with or without a version; libpod passes', () => {
    assert.deepEqual(routeOf('POST', '/v1.41/containers/create?name=web'), { kind: 'create', name: 'web' });
    assert.deepEqual(routeOf('POST', '/containers/create'), { kind: 'create', name: undefined });
    assert.deepEqual(routeOf('GET', '/v1.43/containers/abc/json'), { kind: 'inspect', id: 'abc' });
    assert.deepEqual(routeOf('POST', '/v1.41/networks/n1/connect'), { kind: 'connect', network: 'n1' });
    assert.deepEqual(routeOf('POST', '/build?t=x'), { kind: 'build' });
    assert.deepEqual(routeOf('DELETE', '/v1.41/containers/abc?force=1'), { kind: 'remove', id: 'abc' });
    assert.deepEqual(routeOf('POST', '/v4.3.1/libpod/containers/create'), { kind: 'pass' });
    assert.deepEqual(routeOf('GET', '/v1.41/containers/json'), { kind: 'pass' });
    assert.deepEqual(routeOf('POST', '/v1.41/containers/abc/wait?condition=removed'), { kind: 'waitRemoved', id: 'abc' });
    assert.deepEqual(routeOf('POST', '/v1.41/containers/abc/wait?condition=next-exit'), { kind: 'pass' });
  });

  it('maps the default, bridge and user networks onto the sidecar\'s namespace, keeping the names and aliases for the hosts file', () => {
    for (const mode of [undefined, 'default', 'bridge']) {
      const m = mapCreate({ Image: 'x', HostConfig: mode === undefined ? undefined : { NetworkMode: mode } }, 'one')!;
      assert.equal(m.body.HostConfig?.NetworkMode, 'host');
      assert.deepEqual(m.networks, []);
      assert.deepEqual(m.names, ['one']);
      assert.deepEqual(m.body.HostConfig?.Binds, ['/run/hdc-gateway/hosts:/etc/hosts:ro']);
    }
    const m = mapCreate({
      Image: 'x', Hostname: 'h1', Labels: { keep: 'me' },
      HostConfig: { NetworkMode: 'proj_default', Binds: ['/a:/a'] },
      NetworkingConfig: { EndpointsConfig: { proj_default: { Aliases: ['db', 'db\n6.6.6.6 evil', 'x y', 7] }, other: null } },
    }, 'proj_db_1')!;
    assert.deepEqual(m.networks, ['proj_default', 'other']);
    assert.deepEqual(m.names, ['proj_db_1', 'h1', 'db'], 'a name that would add a line or a field to the hosts file is dropped');
    assert.equal(m.body.NetworkingConfig, undefined);
    assert.deepEqual(m.body.HostConfig?.Binds, ['/a:/a', '/run/hdc-gateway/hosts:/etc/hosts:ro']);
    assert.equal(m.body.Labels?.keep, 'me');
    assert.deepEqual(JSON.parse(m.body.Labels![LABEL_NETWORKS]), { networks: ['proj_default', 'other'], aliases: ['proj_db_1', 'h1', 'db'] });
  });

  it('leaves host, none and container: alone, and a request\'s own /etc/hosts', () => {
    for (const mode of ['host', 'none', 'container:abc']) assert.equal(mapCreate({ HostConfig: { NetworkMode: mode } }, 'n'), undefined);
    const own = mapCreate({ HostConfig: { Mounts: [{ Target: '/etc/hosts' }] } }, 'n')!;
    assert.equal(own.body.HostConfig?.Binds, undefined);
  });

  it('publishes a port as itself and refuses another host port with a message that says why and what works', () => {
    const m = mapCreate({ ExposedPorts: { '9000/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '80' }], '81/tcp': [{ HostPort: '' }] }, PublishAllPorts: true } }, 'w')!;
    assert.equal(m.body.HostConfig?.PortBindings, undefined);
    assert.equal(m.body.HostConfig?.PublishAllPorts, undefined);
    assert.deepEqual(JSON.parse(m.body.Labels![LABEL_PORTS]), ['80/tcp', '81/tcp', '9000/tcp']);
    assert.throws(() => mapCreate({ HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } }, 'w'),
      (e: unknown) => e instanceof GatewayRefusal && e.status === 400 && /port 80\/tcp cannot be published as 8080\. Publish it as itself \(-p 80:80, or -p 80\)/.test(e.message));
  });

  it('the hosts file: localhost first, then each valid name once at 127.0.0.1', () => {
    assert.equal(hostsFile(['web', 'db', 'web', 'bad name', 'localhost']),
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\tdb\n127.0.0.1\tweb\n');
  });

  it('inspect shows the networks asked for (address 127.0.0.1) and each published port as itself', () => {
    const labels = { [LABEL_NETWORKS]: JSON.stringify({ networks: ['n1'], aliases: ['web'] }), [LABEL_PORTS]: '["8080/tcp"]' };
    const v = augmentInspect({ Config: { Labels: labels }, NetworkSettings: { Networks: { host: {} }, SandboxKey: 'k' } }, ['extra']);
    assert.deepEqual(Object.keys(v.NetworkSettings!.Networks!), ['n1']);
    assert.deepEqual((v.NetworkSettings!.Networks!.n1 as { Aliases: string[]; IPAddress: string }).Aliases, ['web', 'extra']);
    assert.deepEqual(v.NetworkSettings!.Ports, { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] });
    assert.equal(v.NetworkSettings!.SandboxKey, 'k');
    const plain = { Config: { Labels: {} }, NetworkSettings: { Networks: { host: {} } } };
    assert.deepEqual(augmentInspect(plain), plain, 'a container hdc did not map is shown as podman shows it');
  });

  it('a build\'s RUN steps use the sidecar\'s namespace unless it asks for none', () => {
    assert.equal(mapBuildUrl('/v1.41/build?t=a&networkmode=default'), '/v1.41/build?t=a&networkmode=host');
    assert.equal(mapBuildUrl('/build?t=a'), '/build?t=a&networkmode=host');
    assert.equal(mapBuildUrl('/build?networkmode=none'), '/build?networkmode=none');
  });
});

describe('sidecar API gateway: streaming through it (a fake podman on a socket)', () => {
  let dir: string;
  let upstream: http.Server;
  let front: http.Server;
  const seen: { method?: string; url?: string; body: string }[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hdc-gateway-'));
    upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body });
        if (req.url?.includes('/wait')) {
          // A long poll: headers at once, the body when "the container exits".
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.flushHeaders();
          setTimeout(() => res.end(req.url!.includes('/gone/') ? '{"StatusCode":3}' : '{"StatusCode":0}'), 300);
        } else if (req.url === '/containers/gone/json') {
          res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"no such container"}');
        } else if (req.url?.startsWith('/networks/')) {
          res.writeHead(req.url.includes('missing') ? 404 : 200, { 'Content-Type': 'application/json' }).end('{}');
        } else if (req.url?.startsWith('/containers/json')) {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify([{ Labels: { [LABEL_NETWORKS]: JSON.stringify({ networks: ['n'], aliases: ['api'] }) } }]));
        } else {
          res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"Id":"abc","Warnings":[]}');
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(path.join(dir, 'podman.sock'), r));
    const gw = new Gateway(path.join(dir, 'podman.sock'), path.join(dir, 'hosts'));
    front = http.createServer((req, res) => { gw.handle(req, res).catch(() => res.destroy()); });
    front.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => gw.upgrade(req, socket, head));
    await new Promise<void>((r) => front.listen(path.join(dir, 'front.sock'), r));
  });
  after(() => {
    front?.close();
    upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (method: string, url: string, body?: string): Promise<{ status: number; headersAt: number; body: string; at: number }> => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request({ socketPath: path.join(dir, 'front.sock'), method, path: url, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const headersAt = Date.now() - t0;
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headersAt, body: text, at: Date.now() - t0 }));
    });
    req.on('error', reject);
    req.end(body);
  });

  it('passes a long poll\'s headers at once (a docker client waits for them before it starts the container)', async () => {
    const r = await request('POST', '/v1.41/containers/abc/wait?condition=next-exit');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{"StatusCode":0}');
    assert.ok(r.headersAt < 250 && r.at >= 250, `headers after ${r.headersAt} ms, body after ${r.at} ms`);
  });

  it('answers a request it cannot read with an error, and goes on (one request must not take the sidecar down)', async () => {
    const bad = await request('GET', '/v1.41/containers/%ZZ/json');
    assert.equal(bad.status, 500);
    assert.match(JSON.parse(bad.body).message, /^hdc sidecar gateway: /);
    const big = await request('POST', '/v1.41/containers/create', JSON.stringify({ Pad: 'x'.repeat(5 * 1024 * 1024) })).catch((e: Error) => ({ status: 0, body: e.message }));
    assert.ok(big.status === 413 || big.status === 0, `an oversized body: ${big.status}`);
    assert.equal((await request('POST', '/v1.41/containers/abc/wait?condition=next-exit')).status, 200, 'still serving');
  });

  it('docker run --rm gets the exit code: a wait for "removed" is a wait for the exit (podman 4.3 says 0), answered once the container is gone', async () => {
    const r = await request('POST', '/v1.41/containers/gone/wait?condition=removed');
    assert.equal(r.body, '{"StatusCode":3}');
    assert.ok(r.headersAt < 250 && r.at >= 250, `headers after ${r.headersAt} ms, body after ${r.at} ms`);
    assert.ok(seen.some((x) => x.url === '/containers/gone/wait?condition=next-exit'), 'podman was asked for the exit');
  });

  it('sends podman the mapped create, refreshes the hosts file from the containers\' labels, and answers 404 for a network that does not exist', async () => {
    const r = await request('POST', '/v1.41/containers/create?name=web', JSON.stringify({ Image: 'x', HostConfig: { NetworkMode: 'n' } }));
    assert.equal(r.status, 201, r.body);
    const sent = JSON.parse(seen.filter((s) => s.url?.startsWith('/v1.41/containers/create')).at(-1)!.body) as { HostConfig: { NetworkMode: string } };
    assert.equal(sent.HostConfig.NetworkMode, 'host');
    assert.match(readFileSync(path.join(dir, 'hosts'), 'utf8'), /^127\.0\.0\.1\tapi$/m);
    const missing = await request('POST', '/v1.41/containers/create', JSON.stringify({ HostConfig: { NetworkMode: 'missing' } }));
    assert.deepEqual([missing.status, JSON.parse(missing.body)], [404, { message: 'network missing not found' }]);
    const refused = await request('POST', '/v1.41/containers/create', JSON.stringify({ HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } }));
    assert.equal(refused.status, 400);
    assert.match(JSON.parse(refused.body).message, /cannot be published as 8080/);
  });
});
