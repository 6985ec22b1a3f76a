// Run by `npm run bench` inside a hardened workspace's network namespace (nsenter, as root
// of the rootless user namespace), never in the workspace itself. Two measurements:
//   overhead UPSTREAM N  — the same allowed query, alternately through the filtering
//                          resolver (from an unprivileged port: redirected to it) and
//                          straight to the upstream (from a port below 1024, which the rules
//                          let through): prints {"resolver": [ms...], "direct": [ms...]}
//   cycles TOKEN N       — N fresh names, each resolved through the resolver and then
//                          connected to on port 80: prints {"failed": k, "ms": [answer→connect]}
'use strict';
/* global clearTimeout */
const dgram = require('node:dgram');
const net = require('node:net');
const packet = require(require.resolve('dns-packet', { paths: [process.env.HDC_REPO || process.cwd()] }));

function query(socket, server, name) {
  return new Promise((resolve) => {
    const id = Math.floor(Math.random() * 65536);
    const t0 = process.hrtime.bigint();
    const timer = setTimeout(() => { socket.off('message', on); resolve(undefined); }, 2000);
    const on = (msg) => {
      if (msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      socket.off('message', on);
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, answer: packet.decode(msg) });
    };
    socket.on('message', on);
    socket.send(packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  });
}

function bound(port) {
  return new Promise((resolve) => { const s = dgram.createSocket('udp4'); s.bind(port, () => resolve(s)); });
}

function connectMs(host) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port: 80, timeout: 2000 });
    const done = (ok) => { s.destroy(); resolve(ok ? Number(process.hrtime.bigint() - t0) / 1e6 : undefined); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

async function main() {
  const [mode, arg, countText] = process.argv.slice(2);
  const n = Number(countText);
  if (mode === 'overhead') {
    const viaResolver = await bound(0);
    const direct = await bound(900 + Math.floor(Math.random() * 100));
    const out = { resolver: [], direct: [] };
    for (let i = 0; i < 20; i++) { await query(viaResolver, '127.0.0.1', 'allowed.test'); await query(direct, arg, 'allowed.test'); }
    for (let i = 0; i < n; i++) {
      const a = await query(viaResolver, '127.0.0.1', 'allowed.test');
      const b = await query(direct, arg, 'allowed.test');
      if (!a || !b) throw new Error(`no answer (${a ? 'direct' : 'resolver'})`);
      out.resolver.push(a.ms);
      out.direct.push(b.ms);
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else if (mode === 'cycles') {
    const socket = await bound(0);
    const out = { failed: 0, ms: [] };
    for (let i = 0; i < n; i++) {
      // Answers alternate between the fixture's two web hosts (*.wild.test and *.bench.test).
      const name = `c${i}-${arg}.${i % 2 ? 'bench' : 'wild'}.test`;
      const r = await query(socket, '127.0.0.1', name);
      const a = r && (r.answer.answers || []).find((x) => x.type === 'A');
      const ms = a ? await connectMs(a.data) : undefined;
      if (ms === undefined) out.failed++;
      else out.ms.push(ms);
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    throw new Error('usage: bench-dns.cjs overhead UPSTREAM N | cycles TOKEN N');
  }
  process.exit(0);
}
main().catch((e) => { process.stderr.write(`${e.message}\n`); process.exit(1); });
