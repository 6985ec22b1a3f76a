import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { eventsWaitPath, ociHookSourcePath, privilegeCheckPath, shimPath } from '../../src/base/paths';
import { ANNOTATIONS } from '../../src/base/labels';
import {
  clearStarted, createEventsNote, eventsNote, formatGate, formatHookMode, formatPregate, hookFile, HOOK_FILES, HOOK_SCRIPTS, resolverSocket,
  idsAnswerFile, newProtocolFile, parseEventsNote, parseGate, parseHookMode, parseIdsAnswer, parsePregate, parseRunRequest,
  parseShimLog, parseStarted, readEventsNote, readRunRequest, readStarted, runRequestFile, SHIM_ENV, SHIM_PROBES, shimEnvironment, writeGate,
  writeHookMode, writeIdsAnswer, writePregate, type PregateState,
} from '../../src/base/protocol';
import { writeFirewallFiles } from '../../src/firewall/firewall';
import { buildPolicy } from '../../src/firewall/policy';
import { REFUSED_CAPS, writePrivilegePolicy } from '../../src/hardening/privilege';
import { openExecGate, openPregate } from '../../src/shim/gate';

/**
 * The protocol of base/protocol.ts, end to end: its writers drive the real shim (with a
 * fake engine, as in shim.test.ts) and the real OCI hook (a fake OCI state and bundle), and
 * its readers read what they leave. No root and no podman: the one part that needs them,
 * loading the rules into a container's netns, is driven only up to its failure.
 */

interface Exit { code: number | null; out: string[]; err: string }
interface Proc { child: ChildProcess; done: Promise<Exit>; running: () => boolean }

/** Spawns with an argv array and only `env` (plus PATH); `input` goes to stdin. */
function start(file: string, args: string[], env: Record<string, string>, input?: string): Proc {
  const child = spawn(file, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  assert.ok(child.stdout && child.stderr);
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  // A hook that refuses early may not read its stdin: EPIPE is its answer, not the test's.
  child.stdin?.on('error', () => undefined).end(input);
  const done = new Promise<Exit>((resolve) => child.on('close', (code) => resolve({ code, out: out.split('\n').slice(0, -1), err })));
  return { child, done, running: () => child.exitCode === null && child.signalCode === null };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pid of a process that has exited (hdc gone). */
async function gonePid(): Promise<number> {
  const child = spawn('true');
  await once(child, 'exit');
  assert.ok(child.pid && !existsSync(`/proc/${child.pid}`));
  return child.pid;
}

async function until(what: string, test: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !test(); waited += 20) {
    if (waited > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const read = (file: string): string => readFileSync(file, 'utf8');
const modeOf = (file: string): number => statSync(file).mode & 0o777;

describe('protocol (base/protocol.ts)', function () {
  // Real scripts, each call a few forks: seconds, more on a loaded machine.
  this.timeout(30_000);
  let dir: string;
  let stateDir: string;
  let fakeEngine: string;
  const children: ChildProcess[] = [];

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-protocol-'));
    stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    fakeEngine = path.join(dir, 'fake-podman');
    writeFileSync(fakeEngine, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    chmodSync(fakeEngine, 0o755);
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const shim = (args: string[], env: Record<string, string>): Proc => {
    const p = start(shimPath(), args, env);
    children.push(p.child);
    return p;
  };

  describe('states, files and environment', () => {
    it('formats each state as the scripts read it, and parses back only what hdc writes', () => {
      const states: PregateState[] = [{ kind: 'open', uid: 1000, gid: 1001 }, { kind: 'open', uid: 0, gid: 0 }, { kind: 'open-image' }, { kind: 'closed' }];
      assert.deepEqual(states.map(formatPregate), ['open 1000 1001\n', 'open 0 0\n', 'open image\n', 'closed\n']);
      for (const s of states) assert.deepEqual(parsePregate(formatPregate(s)), s);
      for (const bad of ['', 'open', 'open 1', 'open -1 2', 'open 1 2 3', 'opened 1 2', 'open image 1']) assert.equal(parsePregate(bad), undefined, bad);
      assert.equal(parseIdsAnswer('open image\n'), undefined, 'not an answer to a build');
      assert.deepEqual(parseIdsAnswer('open 5 6\n'), { kind: 'open', uid: 5, gid: 6 });
      for (const ids of [[NaN, 1], [-1, 1], [1.5, 1], [1, 2 ** 40]]) {
        assert.throws(() => formatPregate({ kind: 'open', uid: ids[0], gid: ids[1] }), /not a uid and gid/);
      }
      assert.deepEqual([formatGate('open'), formatGate('closed')], ['open\n', 'closed\n']);
      assert.deepEqual([parseGate('open\n'), parseGate('closed'), parseGate('opened'), parseGate('')], ['open', 'closed', undefined, undefined]);
      assert.deepEqual([formatHookMode('firewall'), formatHookMode('check')], ['firewall\n', 'check\n']);
      assert.deepEqual([parseHookMode('check\n'), parseHookMode('firewall'), parseHookMode(' check')], ['check', 'firewall', undefined]);
      const id = 'c0ffee'.repeat(10).concat('abcd');
      assert.deepEqual([parseStarted('4242\n'), parseStarted(`4242 ${id}\n`), parseStarted(''), parseStarted('0'), parseStarted('12x'), parseStarted(`4242 ${id}x`), parseStarted('4242 c0ffee')],
        [{ pid: 4242 }, { pid: 4242, id }, undefined, undefined, undefined, undefined, undefined]);
      assert.deepEqual(parseRunRequest('run\0a b\0\0-c\0echo x\ny\0'), ['run', 'a b', '', '-c', 'echo x\ny']);
      assert.deepEqual(['', '\n', 'since\n', 'none\n', '123 /run/e.log\n', 'x'].map(parseEventsNote),
        [{ kind: 'empty' }, { kind: 'empty' }, { kind: 'since' }, { kind: 'none' }, { kind: 'follower', pid: 123, log: '/run/e.log' }, { kind: 'unknown', text: 'x' }]);
      assert.deepEqual(parseShimLog('17\trun\t-c\techo Container started\ntrap "exit 0" 15\t-\n18\t-v\n19\n'), [
        { time: 17, argv: ['run', '-c', 'echo Container started\ntrap "exit 0" 15', '-'] }, { time: 18, argv: ['-v'] }, { time: 19, argv: [] }]);
    });

    it('writes each file whole, mode 0600, with no temporary file left', async () => {
      const p = newProtocolFile(stateDir, 'pregate');
      assert.match(path.basename(p), /^pregate-[0-9a-f]{12}$/);
      await writePregate(p, { kind: 'open', uid: 7, gid: 8 });
      await writeIdsAnswer(p, { kind: 'closed' });
      const g = newProtocolFile(stateDir, 'gate');
      await writeGate(g, 'closed');
      await writeGate(g, 'open');
      const hookDir = path.join(dir, 'modes');
      await writeHookMode(hookDir, 'check');
      await writeHookMode(hookDir, 'check');
      for (const [file, text] of [[p, 'open 7 8\n'], [idsAnswerFile(p), 'closed\n'], [g, 'open\n'], [hookFile(hookDir, 'mode'), 'check\n']]) {
        assert.equal(read(file), text);
        assert.equal(modeOf(file), 0o600, file);
      }
      assert.equal(modeOf(hookDir), 0o700);
      assert.deepEqual(readdirSync(stateDir).filter((f) => f.includes('tmp')), []);
      assert.deepEqual(readdirSync(hookDir), ['mode']);
      // A changed mode is written again.
      await writeHookMode(hookDir, 'firewall');
      assert.equal(read(hookFile(hookDir, 'mode')), 'firewall\n');
    });

    it('names the hook directory\'s files as the hook and its installer use them', async () => {
      assert.deepEqual(HOOK_FILES, { mode: 'mode', privilege: 'privilege', ipset: 'ipset.restore', rulesV4: 'rules.v4', rulesV6: 'rules.v6',
        natV4: 'nat.v4', natV6: 'nat.v6', resolver: 'resolver', events: 'events', started: 'started' });
      const hook = read(ociHookSourcePath());
      for (const name of ['mode', 'privilege', 'events', 'started']) assert.ok(hook.includes(`"$dir/${name}"`), name);
      assert.ok(hook.includes('for f in ipset.restore rules.v4 rules.v6 nat.v4 nat.v6 resolver;'));
      assert.ok(hook.includes('--socket "resolver-$role.sock"') && resolverSocket('sidecar') === 'resolver-sidecar.sock', 'the resolver\'s socket, per role');
      assert.ok(hook.includes(`. "\${0%/*}/${HOOK_SCRIPTS.privilegeCheck}"`) && hook.includes(`. "\${0%/*}/${HOOK_SCRIPTS.eventsWait}"`));
      assert.deepEqual([ociHookSourcePath(), eventsWaitPath(), privilegeCheckPath()].map((p) => path.basename(p)), [HOOK_SCRIPTS.hook, HOOK_SCRIPTS.eventsWait, HOOK_SCRIPTS.privilegeCheck]);
      // hardening/privilege.ts writes the policy where the hook reads it.
      const fw = path.join(dir, 'policy-name');
      await writePrivilegePolicy(fw, { noNewPrivileges: true, userNamespace: true, protectedDirs: [] });
      assert.match(read(hookFile(fw, 'privilege')), /^caps=.*\nnnp=1\nuserns=1\n$/);
      // And firewall.ts writes the firewall files and "firewall" there.
      await writeFirewallFiles(fw, buildPolicy(['example.com'], []));
      for (const f of ['ipset', 'rulesV4', 'rulesV6', 'natV4', 'natV6'] as const) assert.ok(read(hookFile(fw, f)).length > 0, f);
      // The resolver file: two lines, the Node and the resolver's bundle.
      assert.equal(read(hookFile(fw, 'resolver')).split('\n').length, 3);
      assert.match(read(hookFile(fw, 'resolver')).split('\n')[1], /hardened-devcontainers\/bin\/firewall-resolver\.cjs$/);
      assert.equal(read(hookFile(fw, 'mode')), 'firewall\n');
    });

    it('owns every HDC_* variable the scripts read', () => {
      const used = new Set([shimPath(), eventsWaitPath(), ociHookSourcePath(), privilegeCheckPath()].flatMap((f) => read(f).match(/\bHDC_[A-Z_]+/g) ?? []));
      assert.deepEqual([...used].sort(), Object.values(SHIM_ENV).sort());
    });

    it('builds the shim\'s whole HDC_* environment', () => {
      assert.deepEqual(shimEnvironment({ engine: '/usr/bin/podman' }), { HDC_ENGINE: '/usr/bin/podman' });
      const hookNote = eventsNote(stateDir, '/s/firewall');
      assert.deepEqual(hookNote, { file: '/s/firewall/events', waiter: 'hook' });
      assert.deepEqual(shimEnvironment({ engine: 'p', pregate: '/s/pregate-1', pid: 42, gate: '/s/gate-1', events: hookNote, shimLog: '/l' }), {
        HDC_ENGINE: 'p', HDC_PREGATE: '/s/pregate-1', HDC_PID: '42', HDC_GATE: '/s/gate-1', HDC_EVENTS: '/s/firewall/events', HDC_EVENTS_WAIT: 'hook', HDC_SHIM_LOG: '/l' });
      const runNote = eventsNote(stateDir);
      assert.equal(runNote.waiter, 'run');
      assert.match(runNote.file, /\/events-[0-9a-f]{12}$/);
      assert.deepEqual(shimEnvironment({ engine: 'p', pregate: '/s/p', events: runNote }), { HDC_ENGINE: 'p', HDC_PREGATE: '/s/p', HDC_PID: String(process.pid), HDC_EVENTS: runNote.file });
      assert.deepEqual(shimEnvironment({ engine: 'p', ids: { uid: 1000, gid: 1001 } }), { HDC_ENGINE: 'p', HDC_UID: '1000', HDC_GID: '1001' });
      assert.throws(() => shimEnvironment({ engine: 'p', ids: { uid: -1, gid: 0 } }), /not a uid and gid/);
    });

    it('gate.ts: typed gates over these files; `started` is cleared before an up', async () => {
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open-image' });
      assert.equal(read(pregate.file), 'open image\n');
      assert.equal(await pregate.readRunRequest(), undefined);
      writeFileSync(runRequestFile(pregate.file), 'run\0img\0');
      assert.deepEqual(await pregate.readRunRequest(), ['run', 'img']);
      await pregate.answerIds({ kind: 'open', uid: 3, gid: 4 });
      assert.equal(read(idsAnswerFile(pregate.file)), 'open 3 4\n');
      await pregate.remove();
      assert.deepEqual([pregate.file, runRequestFile(pregate.file), idsAnswerFile(pregate.file)].filter(existsSync), []);
      const gate = openExecGate(stateDir);
      assert.match(path.basename(gate.file), /^gate-[0-9a-f]{12}$/);
      await gate.set('closed');
      assert.equal(read(gate.file), 'closed\n');
      await gate.remove();
      assert.equal(existsSync(gate.file), false);

      const fw = path.join(dir, 'hookdir');
      mkdirSync(fw, { recursive: true });
      writeFileSync(hookFile(fw, 'started'), '77\n');
      assert.equal((await readStarted(fw))?.pid, 77);
      await clearStarted(fw);
      assert.equal(await readStarted(fw), undefined);
    });
  });

  describe('the shim (real script, fake engine), driven by the protocol\'s writers', () => {
    let shimLog: string;
    beforeEach(() => {
      shimLog = path.join(dir, `shim-${Math.random().toString(16).slice(2)}.log`);
    });
    const logged = (): string[][] => (existsSync(shimLog) ? parseShimLog(read(shimLog)).map((r) => r.argv) : []);

    it('pregate not yet written: every call keeps waiting (past the fast polls), then goes on once hdc opens it', async () => {
      const pregate = openPregate(stateDir);
      const env = shimEnvironment({ engine: fakeEngine, pregate: pregate.file, shimLog });
      const run = shim(['run', '--userns=keep-id', 'img'], env);
      const version = shim(['-v'], env);
      await sleep(800);
      assert.ok(run.running() && version.running(), 'a call went through before the pregate was written');
      writeFileSync(pregate.file, '');
      await sleep(300);
      assert.ok(run.running(), 'an empty pregate is not written yet');
      assert.deepEqual(logged(), [], 'nothing reached podman');
      await pregate.set({ kind: 'open', uid: 1234, gid: 5678 });
      const [r, v] = await Promise.all([run.done, version.done]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out, ['run', '--userns=keep-id:uid=1234,gid=5678', 'img']);
      assert.deepEqual(v.out, ['-v']);
      assert.deepEqual(logged().sort(), [['-v'], ['run', '--userns=keep-id:uid=1234,gid=5678', 'img']]);
    });

    it('pregate closed: every subcommand refuses, and nothing reaches podman, the log or the events note', async () => {
      const pregate = openPregate(stateDir);
      const note = eventsNote(stateDir);
      await createEventsNote(note);
      await pregate.set({ kind: 'closed' });
      const env = shimEnvironment({ engine: fakeEngine, pregate: pregate.file, events: note, shimLog });
      for (const args of [['run', 'img'], ['create', 'img'], ['exec', 'c1', 'true'], ['events'], ['start', 'c1'], ['-v']]) {
        const r = await shim(args, env).done;
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.err, /hdc stopped this up before its container was made; refusing/);
        assert.deepEqual(r.out, []);
      }
      assert.equal(existsSync(shimLog), false);
      assert.deepEqual(await readEventsNote(note.file), { kind: 'empty' });
    });

    it('hdc gone (HDC_PID exited): a waiting call refuses; a written pregate no longer looks at HDC_PID', async () => {
      const pid = await gonePid();
      const pregate = openPregate(stateDir);
      const waiting = await shim(['ps'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, pid, shimLog })).done;
      assert.equal(waiting.code, 1);
      assert.match(waiting.err, /hdc is gone; refusing/);
      assert.deepEqual(waiting.out, []);
      // hdc dies while the call waits.
      const alive = spawn('sleep', ['30']);
      children.push(alive);
      const held = shim(['ps'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, pid: alive.pid, shimLog }));
      await sleep(300);
      assert.ok(held.running());
      alive.kill();
      await once(alive, 'exit');
      const r = await held.done;
      assert.equal(r.code, 1);
      assert.match(r.err, /hdc is gone; refusing/);
      await pregate.set({ kind: 'open', uid: 1, gid: 2 });
      const open = await shim(['ps'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, pid, shimLog })).done;
      assert.equal(open.code, 0, open.err);
      assert.deepEqual(open.out, ['ps']);
      assert.deepEqual(logged(), [['ps']]);
    });

    it('HDC_PROBES: the CLI\'s engine probes go through the pregate once, are kept, then answered without podman', async () => {
      const probes = mkdtempSync(path.join(dir, 'probes-'));
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open', uid: 1, gid: 2 });
      for (const probe of Object.values(SHIM_PROBES)) {
        const argv = probe.split(' ');
        const first = await shim(argv, shimEnvironment({ engine: fakeEngine, pregate: pregate.file, shimLog, probes })).done;
        assert.equal(first.code, 0, first.err);
        assert.deepEqual(first.out, argv, 'asked podman');
      }
      assert.equal(logged().length, 3);
      // Kept: answered the same, with the pregate closed and no engine call.
      const closed = openPregate(stateDir);
      await closed.set({ kind: 'closed' });
      for (const probe of Object.values(SHIM_PROBES)) {
        const again = await shim(probe.split(' '), shimEnvironment({ engine: fakeEngine, pregate: closed.file, shimLog, probes })).done;
        assert.equal(again.code, 0, again.err);
        assert.deepEqual(again.out, probe.split(' '));
      }
      assert.equal(logged().length, 3, 'no further call reached podman');
      // A failed probe is never kept: podman's `buildx version` fails, and so the CLI's first
      // call waits at the pregate (the CLI must not read its configuration before hdc wrote
      // the override file).
      const failing = path.join(dir, 'failing-podman');
      writeFileSync(failing, '#!/bin/sh\necho "Error: unrecognized command $*" >&2; exit 125\n');
      chmodSync(failing, 0o755);
      const fresh = mkdtempSync(path.join(dir, 'probes-'));
      for (const probe of [SHIM_PROBES.buildx, SHIM_PROBES.v]) {
        const asked = await shim(probe.split(' '), shimEnvironment({ engine: failing, pregate: pregate.file, probes: fresh })).done;
        assert.equal(asked.code, 125);
        const again = await shim(probe.split(' '), shimEnvironment({ engine: fakeEngine, pregate: closed.file, probes: fresh })).done;
        assert.equal(again.code, 1, `${probe}: asked again, and refused at the closed pregate`);
        assert.match(again.err, /hdc stopped this up/);
      }
      // Anything else still waits for the pregate and refuses when it is closed.
      const ps = await shim(['ps'], shimEnvironment({ engine: fakeEngine, pregate: closed.file, shimLog, probes })).done;
      assert.equal(ps.code, 1);
      assert.equal(logged().length, 3);
    });

    it('"open image": create hands its argv over whole and waits; hdc\'s "open" answer gives the ids', async () => {
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open-image' });
      const argv = ['create', '--userns', 'keep-id', '-e', 'A=tab\there', '--label', "q='x'", 'vsc-img', '-c', 'echo Container started\ntrap "exit 0" 15'];
      const create = shim(argv, shimEnvironment({ engine: fakeEngine, pregate: pregate.file, shimLog }));
      await until('the run request', () => existsSync(runRequestFile(pregate.file)));
      assert.deepEqual(await pregate.readRunRequest(), argv);
      assert.equal(existsSync(`${runRequestFile(pregate.file)}.tmp`), false, 'written whole: .tmp renamed');
      await sleep(300);
      assert.ok(create.running(), 'create went on before hdc answered');
      await pregate.answerIds({ kind: 'open', uid: 2000, gid: 2001 });
      const r = await create.done;
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out.slice(0, 3), ['create', '--userns', 'keep-id:uid=2000,gid=2001']);
      assert.equal(logged().length, 1);
      await pregate.remove();
    });

    it('"open image": hdc\'s "closed" answer, and hdc gone while create waits, refuse with nothing run', async () => {
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open-image' });
      const closed = shim(['create', '--userns=keep-id', 'img'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, shimLog }));
      await until('the run request', () => existsSync(runRequestFile(pregate.file)));
      await pregate.answerIds({ kind: 'closed' });
      const c = await closed.done;
      assert.equal(c.code, 1);
      assert.match(c.err, /hdc refused the image's remote user \(see hdc's message\); nothing was run/);
      assert.deepEqual(c.out, []);

      const other = openPregate(stateDir);
      await other.set({ kind: 'open-image' });
      const alive = spawn('sleep', ['30']);
      children.push(alive);
      const held = shim(['run', '--userns=keep-id', 'img'], shimEnvironment({ engine: fakeEngine, pregate: other.file, pid: alive.pid, shimLog }));
      await until('the run request', () => existsSync(runRequestFile(other.file)));
      assert.deepEqual(await readRunRequest(other.file), ['run', '--userns=keep-id', 'img']);
      alive.kill();
      const r = await held.done;
      assert.equal(r.code, 1);
      assert.match(r.err, /hdc is gone; refusing/);
      assert.deepEqual(r.out, []);
      assert.deepEqual(logged(), []);
      await Promise.all([pregate.remove(), other.remove()]);
    });

    it('gate: exec waits behind an open pregate until the gate opens; "closed" refuses', async () => {
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open', uid: 1000, gid: 1000 });
      const gate = openExecGate(stateDir);
      const env = shimEnvironment({ engine: fakeEngine, pregate: pregate.file, gate: gate.file, shimLog });
      const exec = shim(['exec', '-u', 'vscode', 'c1', 'sh', '-c', 'true'], env);
      const inspect = await shim(['inspect', 'c1'], env).done;
      assert.deepEqual(inspect.out, ['inspect', 'c1'], 'only exec waits at the gate');
      await sleep(300);
      assert.ok(exec.running(), 'exec went through before the gate opened');
      await gate.set('open');
      const r = await exec.done;
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out, ['exec', '-u', 'vscode', 'c1', 'sh', '-c', 'true']);

      const shut = openExecGate(stateDir);
      const refused = shim(['exec', 'c1', 'true'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, gate: shut.file, shimLog }));
      await sleep(200);
      await shut.set('closed');
      const x = await refused.done;
      assert.equal(x.code, 1);
      assert.match(x.err, /the firewall was not verified; refusing exec/);
      assert.deepEqual(x.out, []);
      assert.deepEqual(logged(), [['inspect', 'c1'], ['exec', '-u', 'vscode', 'c1', 'sh', '-c', 'true']]);
      await Promise.all([pregate.remove(), gate.remove(), shut.remove()]);
    });

    it('gate, hdc gone: exec does not look at HDC_PID and keeps waiting (bounded only by its 10 minutes)', async () => {
      const pregate = openPregate(stateDir);
      await pregate.set({ kind: 'open', uid: 1000, gid: 1000 });
      const gate = openExecGate(stateDir);
      const exec = shim(['exec', 'c1', 'true'], shimEnvironment({ engine: fakeEngine, pregate: pregate.file, pid: await gonePid(), gate: gate.file, shimLog }));
      await sleep(800);
      assert.ok(exec.running(), 'exec still waits');
      await gate.set('closed');
      assert.equal((await exec.done).code, 1);
      await Promise.all([pregate.remove(), gate.remove()]);
    });

    describe('events note (HDC_EVENTS)', () => {
      let xdg: string;
      let eventsLog: string;
      let pidEngine: string;
      before(() => {
        xdg = path.join(dir, 'xdg');
        mkdirSync(path.join(xdg, 'libpod', 'tmp', 'events'), { recursive: true });
        eventsLog = path.join(xdg, 'libpod', 'tmp', 'events', 'events.log');
        writeFileSync(eventsLog, '{"Status":"start"}\n'.repeat(10));
        pidEngine = path.join(dir, 'pid-podman');
        writeFileSync(pidEngine, '#!/bin/sh\necho "$$"; for a in "$@"; do printf "%s\\n" "$a"; done\n');
        chmodSync(pidEngine, 0o755);
      });

      it('created empty by hdc; the shim leaves "PID LOG", "since" or "none" in it, as the protocol reads them', async () => {
        const ids = { uid: 1, gid: 1 };
        const follow = eventsNote(stateDir);
        await createEventsNote(follow);
        assert.equal(modeOf(follow.file), 0o600);
        assert.deepEqual(await readEventsNote(follow.file), { kind: 'empty' });
        const f = await shim(['events', '--format', 'json'], { ...shimEnvironment({ engine: pidEngine, ids, events: follow }), XDG_RUNTIME_DIR: xdg }).done;
        assert.deepEqual(await readEventsNote(follow.file), { kind: 'follower', pid: Number(f.out[0]), log: eventsLog });

        const since = eventsNote(stateDir);
        await createEventsNote(since);
        const s = await shim(['events'], { ...shimEnvironment({ engine: fakeEngine, ids, events: since }), XDG_RUNTIME_DIR: path.join(dir, 'no-runtime') }).done;
        assert.equal(s.out[1], '--since');
        assert.deepEqual(await readEventsNote(since.file), { kind: 'since' });

        const none = eventsNote(stateDir);
        await createEventsNote(none);
        await shim(['start', 'c1'], shimEnvironment({ engine: fakeEngine, ids, events: none })).done;
        assert.deepEqual(await readEventsNote(none.file), { kind: 'none' });

        // No note at all (a run without HDC_EVENTS): --since, nothing written.
        const bare = await shim(['events'], { ...shimEnvironment({ engine: fakeEngine, ids }), XDG_RUNTIME_DIR: xdg }).done;
        assert.equal(bare.out[1], '--since');
        assert.equal(await readEventsNote(eventsNote(stateDir).file), undefined);
      });

      it('a follower that ends on its own (podman 4.3 on a half-written line) follows again --since the call\'s start; the note names the first', async () => {
        // The fake follower: without --since it prints its pid and ends at once, as podman
        // 4.3 does; with --since it prints the start event and waits to be killed.
        const flaky = path.join(dir, 'flaky-podman');
        writeFileSync(flaky, '#!/bin/sh\ncase " $* " in *" --since "*) echo \'{"ID":"c1","Status":"start"}\'; while :; do sleep 0.1; done ;; esac\necho "$$"\n');
        chmodSync(flaky, 0o755);
        const note = eventsNote(stateDir);
        await createEventsNote(note);
        const t0 = Math.floor(Date.now() / 1000);
        const p = shim(['events', '--format', 'json', '--filter', 'event=start'], { ...shimEnvironment({ engine: flaky, ids: { uid: 1, gid: 1 }, events: note }), XDG_RUNTIME_DIR: xdg });
        let out = '';
        p.child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
        await until('the replayed start event', () => out.includes('"Status":"start"'));
        const firstPid = Number(out.split('\n')[0]);
        assert.deepEqual(await readEventsNote(note.file), { kind: 'follower', pid: firstPid, log: eventsLog });
        const since = readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
        const replay = since.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)).find((argv) => argv.includes('--since'));
        assert.ok(replay, 'the second follower runs with --since');
        assert.deepEqual(replay.slice(-2, -1), ['--since']);
        assert.ok(Math.abs(Number(replay.at(-1)) - t0) <= 2, `--since ${replay.at(-1)} is the call's start (${t0})`);
        // The CLI ends the shim with SIGKILL once it has its event: the follower goes with it.
        const follower = since.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--since'));
        assert.ok(follower, 'the replaying follower is a child of the shim');
        p.child.kill('SIGKILL');
        await until('the follower to end after the shim', () => !existsSync(`/proc/${follower}`) || readFileSync(`/proc/${follower}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'), 3000);
        const { err } = await p.done;
        assert.match(err, /events follower ended on its own \(status 0\); following again/);
      });

      it('a replay that fails on the same half-written line (status 125) is followed again too; only the first follower\'s failure is passed on', async () => {
        // Without --since: ends at once (status 0). The first replay fails as podman 4.3 does
        // on a line still being written; the next prints the start event and waits.
        const count = path.join(dir, 'replays');
        const flaky = path.join(dir, 'flaky-replay-podman');
        writeFileSync(flaky, `#!/bin/sh\ncase " $* " in *" --since "*) n=$(cat '${count}' 2>/dev/null || echo 0); echo $((n + 1)) >'${count}'
  if [ "$n" -eq 0 ]; then echo "Error: unexpected end of JSON input" >&2; exit 125; fi
  echo '{"ID":"c1","Status":"start"}'; while :; do sleep 0.1; done ;; esac\n`);
        chmodSync(flaky, 0o755);
        const note = eventsNote(stateDir);
        await createEventsNote(note);
        const p = shim(['events', '--format', 'json', '--filter', 'event=start'], { ...shimEnvironment({ engine: flaky, ids: { uid: 1, gid: 1 }, events: note }), XDG_RUNTIME_DIR: xdg });
        let out = '';
        p.child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
        await until('the start event from the second replay', () => out.includes('"Status":"start"'));
        assert.equal(p.child.exitCode, null, 'the shim still follows');
        assert.equal(readFileSync(count, 'utf8').trim(), '2');
        p.child.kill('SIGKILL');
        const { err } = await p.done;
        assert.match(err, /ended on its own \(status 0\); following again[\s\S]*Error: unexpected end of JSON input\n[\s\S]*ended on its own \(status 125\); following again/);
      });

      it('run, waiter "run": an empty note (no follower came) holds run ~1 s, then run goes on; no note: no wait', async () => {
        const note = eventsNote(stateDir);
        await createEventsNote(note);
        const env = shimEnvironment({ engine: fakeEngine, ids: { uid: 1, gid: 1 }, events: note, shimLog });
        const t0 = Date.now();
        const r = await shim(['run', 'img'], env).done;
        assert.ok(Date.now() - t0 >= 900, `run waited ${Date.now() - t0} ms for the note`);
        assert.equal(r.code, 0, r.err);
        rmSync(note.file);
        assert.equal((await shim(['run', 'img'], env).done).code, 0);
        assert.deepEqual(logged(), [['run', 'img'], ['run', 'img']]);
      });
    });
  });

  describe('the OCI hook (real script, fake OCI state and bundle)', () => {
    let bin: string;
    let hook: string;
    let bundle: string;
    const spec = (caps = ['CAP_CHOWN', 'CAP_KILL']): unknown => ({
      process: { capabilities: { bounding: caps, effective: caps }, noNewPrivileges: true },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/workspaces/w', type: 'bind', source: '/home/me/w', options: ['rbind', 'rw'] },
        { destination: '/etc/resolv.conf', type: 'bind', source: '/home/me/w/.resolv.conf', options: ['rbind', 'ro'] }],
      linux: { namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })), seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] },
    });

    before(() => {
      // Installed as installOciHook does: the helpers next to the hook.
      bin = path.join(dir, 'hook-bin');
      mkdirSync(bin);
      hook = path.join(bin, HOOK_SCRIPTS.hook);
      copyFileSync(ociHookSourcePath(), hook);
      chmodSync(hook, 0o755);
      copyFileSync(eventsWaitPath(), path.join(bin, HOOK_SCRIPTS.eventsWait));
      copyFileSync(privilegeCheckPath(), path.join(bin, HOOK_SCRIPTS.privilegeCheck));
      bundle = path.join(dir, 'bundle');
      mkdirSync(bundle);
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec()));
    });

    /** A hook directory with hdc's privilege policy (and a mode, unless undefined). */
    async function hookDir(mode: 'firewall' | 'check' | undefined): Promise<string> {
      const d = mkdtempSync(path.join(dir, 'fw-'));
      await writePrivilegePolicy(d, { noNewPrivileges: true, userNamespace: true, protectedDirs: [path.join(dir, 'protected')], workspace: '/home/me/w' });
      if (mode) await writeHookMode(d, mode);
      return d;
    }
    /** podman's state on stdin: the container's pid, its bundle, its annotations. */
    const runHook = (d: string, o: { pid?: number | string; role?: string; bundleDir?: string; extra?: Record<string, string>; id?: string } = {}): Proc => {
      const annotations: Record<string, string> = { [ANNOTATIONS.firewall]: d, ...o.extra };
      annotations[ANNOTATIONS.role] = o.role ?? 'workspace';
      const state = JSON.stringify({ ociVersion: '1.0.2', id: o.id ?? 'c0ffee', status: 'created', pid: o.pid ?? 4242, bundle: o.bundleDir ?? bundle, annotations });
      const p = start(hook, [], {}, state);
      children.push(p.child);
      return p;
    };

    it('mode "check": reads the privilege back, then writes the container\'s pid (and its id, if a full one) to `started`', async () => {
      const d = await hookDir('check');
      const r = await runHook(d, { pid: 4242 }).done;
      assert.equal(r.code, 0, r.err);
      assert.equal(read(hookFile(d, 'started')), '4242\n', 'an id that is not 64 hex digits is left out');
      assert.deepEqual(await readStarted(d), { pid: 4242 });
      const id = '9c0fe25115f7'.repeat(5).concat('0eef');
      const again = await runHook(d, { pid: 4243, id }).done;
      assert.equal(again.code, 0, again.err);
      assert.deepEqual(await readStarted(d), { pid: 4243, id });
    });

    it('refuses the start (no `started`) without a mode file, with an unknown mode, or with a spec weaker than the policy', async () => {
      const none = await hookDir(undefined);
      const a = await runHook(none).done;
      assert.equal(a.code, 1);
      assert.match(a.err, /cannot read .*\/mode \(run hdc up again\); the container was not started/);
      const bogus = await hookDir(undefined);
      writeFileSync(hookFile(bogus, 'mode'), 'off\n');
      const b = await runHook(bogus).done;
      assert.equal(b.code, 1);
      assert.match(b.err, /unknown mode in .*\/mode/);
      assert.doesNotMatch(b.err, /\boff\b/, 'the hook never prints what a file says');
      const weak = await hookDir('check');
      const weakBundle = path.join(dir, 'weak-bundle');
      mkdirSync(weakBundle, { recursive: true });
      writeFileSync(path.join(weakBundle, 'config.json'), JSON.stringify(spec(['CAP_CHOWN', `CAP_${REFUSED_CAPS[0]}`])));
      const c = await runHook(weak, { bundleDir: weakBundle }).done;
      assert.equal(c.code, 1);
      assert.match(c.err, new RegExp(`refused: the container holds CAP_${REFUSED_CAPS[0]}`));
      const nnp = await hookDir('check');
      writeFileSync(path.join(weakBundle, 'config.json'), JSON.stringify({ ...(spec() as object), process: { capabilities: { bounding: ['CAP_CHOWN'] }, noNewPrivileges: false } }));
      assert.match((await runHook(nnp, { bundleDir: weakBundle }).done).err, /lacks no-new-privileges/);
      for (const d of [none, bogus, weak, nnp]) assert.equal(await readStarted(d), undefined, d);
    });

    it('refuses a spec that sets a kernel parameter the firewall depends on, in any spelling; another sysctl passes', async () => {
      const sysctlBundle = path.join(dir, 'sysctl-bundle');
      mkdirSync(sysctlBundle, { recursive: true });
      // The spec as the runtime reads it: a key may be a JSON escape ("\u005f" is "_"), written raw.
      const withSysctl = (sysctl: Record<string, string>): void => {
        const s = spec() as { linux: Record<string, unknown> };
        writeFileSync(path.join(sysctlBundle, 'config.json'), JSON.stringify({ ...s, linux: { ...s.linux, sysctl } }).replace('RAW-ESCAPE', 'net.ipv4.ip_unprivileged\\u005fport_start'));
      };
      for (const name of ['net.ipv4.ip_unprivileged_port_start', 'net/ipv4/ip_unprivileged_port_start', 'net.ipv4.ip_nonlocal_bind',
        'net.ipv4.conf.all.route_localnet', 'net.ipv4.conf.eth0.route_localnet', 'net.ipv4..ip_unprivileged_port_start', 'RAW-ESCAPE']) {
        const d = await hookDir('check');
        withSysctl({ 'net.ipv4.tcp_keepalive_time': '600', [name]: '0' });
        const r = await runHook(d, { bundleDir: sysctlBundle }).done;
        assert.equal(r.code, 1, name);
        assert.match(r.err, /refused: the container sets a kernel parameter the firewall depends on/, name);
        assert.equal(await readStarted(d), undefined, name);
      }
      const ok = await hookDir('check');
      withSysctl({ 'net.ipv4.tcp_keepalive_time': '600', 'net.core.somaxconn': '1024' });
      const r = await runHook(ok, { bundleDir: sysctlBundle, pid: 4343 }).done;
      assert.equal(r.code, 0, r.err);
      assert.equal((await readStarted(ok))?.pid, 4343);
    });

    it('reads pid and bundle from the runtime\'s own fields, never from an annotation of the same name (runArgs --annotation pid=1)', async () => {
      const d = await hookDir('check');
      const weakBundle = path.join(dir, 'forged-bundle');
      mkdirSync(weakBundle, { recursive: true });
      writeFileSync(path.join(weakBundle, 'config.json'), JSON.stringify(spec(['CAP_CHOWN', 'CAP_SYS_ADMIN'])));
      // The real bundle is weaker; a forged bundle annotation pointing at a hardened spec must not hide it.
      const refused = await runHook(d, { pid: 4242, bundleDir: weakBundle, extra: { bundle, pid: '1' } }).done;
      assert.equal(refused.code, 1, 'the weaker real bundle was read');
      assert.match(refused.err, /refused: the container holds CAP_SYS_ADMIN/);
      // The real pid is reported, not the annotation's.
      const r = await runHook(d, { pid: 4242, extra: { pid: '1', bundle: weakBundle } }).done;
      assert.equal(r.code, 0, r.err);
      assert.equal((await readStarted(d))?.pid, 4242);
      // Annotations before the runtime's fields: nothing is trusted, the start is refused.
      const state = `{"annotations":{"${ANNOTATIONS.firewall}":"${d}","pid":"1","bundle":"${bundle}"},"ociVersion":"1.0.2","id":"c0ffee","status":"created","pid":4242,"bundle":"${bundle}"}`;
      const first = start(hook, [], {}, state);
      children.push(first.child);
      assert.match((await first.done).err, /no container pid in the state/);
    });

    it('reads hdc\'s annotations only at a key\'s start: a workspace\'s key that ends in their name is not them; no role, refused', async () => {
      const d = await hookDir('check');
      const evil = await hookDir('check');
      writeFileSync(hookFile(evil, 'mode'), 'check\n');
      // What podman writes for runArgs --annotation '"x""dev.hardened-devcontainers.firewall=EVIL"': the key x"dev.… sorts after hdc's.
      const forged = (role?: string): string => `{"ociVersion":"1.0.2","id":"c0ffee","status":"created","pid":4242,"bundle":"${bundle}","annotations":{`
        + `"${ANNOTATIONS.firewall}":"${d}",${role ? `"${ANNOTATIONS.role}":"${role}",` : ''}"x\\"${ANNOTATIONS.firewall}":"${evil}","x\\"${ANNOTATIONS.role}":"sidecar"}}`;
      const ok = start(hook, [], {}, forged('workspace'));
      children.push(ok.child);
      const r = await ok.done;
      assert.equal(r.code, 0, r.err);
      assert.equal((await readStarted(d))?.pid, 4242, 'hdc\'s directory, and the workspace role (started written)');
      assert.equal(await readStarted(evil), undefined);
      const noRole = start(hook, [], {}, forged());
      children.push(noRole.child);
      assert.match((await noRole.done).err, /no role in the annotations/);
    });

    it('refuses a state without a pid or an absolute hook directory', async () => {
      const d = await hookDir('check');
      assert.match((await runHook(d, { pid: 'x' }).done).err, /no container pid in the state/);
      assert.match((await runHook('relative/dir').done).err, /no absolute firewall directory in the annotation/);
      assert.equal(await readStarted(d), undefined);
    });

    it('the sidecar (role=sidecar): no privilege read-back and no `started` (that file is the workspace\'s); an unreadable spec is refused', async () => {
      const d = await hookDir('check');
      const sidecarBundle = path.join(dir, 'sidecar-bundle');
      mkdirSync(sidecarBundle, { recursive: true });
      writeFileSync(path.join(sidecarBundle, 'config.json'), JSON.stringify(spec(['CAP_CHOWN', 'CAP_SYS_ADMIN'])));
      const r = await runHook(d, { role: 'sidecar', bundleDir: sidecarBundle }).done;
      assert.equal(r.code, 0, r.err);
      assert.equal(existsSync(hookFile(d, 'started')), false);
      const none = await runHook(d, { role: 'sidecar', bundleDir: path.join(dir, 'no-bundle') }).done;
      assert.equal(none.code, 1);
      assert.match(none.err, /cannot read the OCI spec .*no-bundle\/config\.json; the container was not started/);
    });

    it('reads the state as the runtime may write it (spaces after a colon), and refuses an annotation of hdc\'s given twice, or with a quote or backslash in it', async () => {
      const d = await hookDir('check');
      const state = (annotations: string): string => `{"ociVersion": "1.0.2","id": "c0ffee","pid": 4545,"bundle": "${bundle}","annotations": {${annotations}}}`;
      const run = async (s: string): Promise<{ code: number | null; err: string }> => {
        const p = start(hook, [], {}, s);
        children.push(p.child);
        return p.done;
      };
      const ok = await run(state(`"${ANNOTATIONS.firewall}": "${d}","${ANNOTATIONS.role}":  "workspace"`));
      assert.equal(ok.code, 0, ok.err);
      assert.equal((await readStarted(d))?.pid, 4545);
      const twice = await run(state(`"${ANNOTATIONS.firewall}":"${d}","${ANNOTATIONS.role}":"workspace","${ANNOTATIONS.firewall}":"${d}"`));
      assert.match(twice.err, /an annotation of hdc's appears twice/);
      const escaped = await run(state(`"${ANNOTATIONS.firewall}":"${d}\\"x","${ANNOTATIONS.role}":"workspace"`));
      assert.equal(escaped.code, 1);
      assert.match(escaped.err, /no absolute firewall directory in the annotation/);
      const number = await run(state(`"${ANNOTATIONS.firewall}":"${d}","${ANNOTATIONS.role}":7`));
      assert.match(number.err, /no role in the annotations/);
    });

    it('mode "firewall": refuses without the firewall files; with them, fails closed when the rules cannot be loaded', async () => {
      // Loading into the container's netns needs its pid and root of the user namespace: not
      // driven here. A pid with no process makes nsenter fail before any netns is touched.
      const d = await hookDir('firewall');
      const missing = await runHook(d, { pid: 999999999 }).done;
      assert.equal(missing.code, 1);
      assert.match(missing.err, /cannot read .*\/ipset\.restore \(run hdc up again\)/);
      await writeFirewallFiles(d, buildPolicy(['example.com'], []));
      assert.equal(read(hookFile(d, 'mode')), 'firewall\n');
      const load = await runHook(d, { pid: 999999999 }).done;
      assert.equal(load.code, 1);
      assert.match(load.err, /ipset restore failed; the container was not started/);
      assert.equal(await readStarted(d), undefined);
    });

    describe('events note in the hook directory (HDC_EVENTS_WAIT=hook)', () => {
      let eventsLog: string;
      before(() => {
        eventsLog = path.join(dir, 'hook-events.log');
        writeFileSync(eventsLog, '{"Status":"start"}\n'.repeat(100));
      });

      it('present: `started` is written only once the note\'s follower is past the log\'s start', async () => {
        const d = await hookDir('check');
        const note = eventsNote(stateDir, d);
        await createEventsNote(note);
        const ready = path.join(d, 'follower-ready');
        // Ready after 1.5 s: longer than the hook's own privilege read-back takes.
        const follower = spawn(process.execPath, ['-e', `
          const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(eventsLog)}, 'r');
          setTimeout(() => { fs.writeFileSync(${JSON.stringify(ready)}, ''); const b = Buffer.alloc(65536); while (fs.readSync(fd, b, 0, b.length, null) > 0); }, 1500);
          setInterval(() => {}, 1000);`], { stdio: 'ignore' });
        children.push(follower);
        // As the shim's `events` writes it.
        writeFileSync(note.file, `${follower.pid} ${eventsLog}\n`);
        assert.deepEqual(await readEventsNote(note.file), { kind: 'follower', pid: follower.pid, log: eventsLog });
        const r = await runHook(d).done;
        assert.equal(r.code, 0, r.err);
        assert.ok(existsSync(ready), 'the hook reported the start before the follower was ready');
        assert.ok(statSync(hookFile(d, 'started')).mtimeMs >= statSync(ready).mtimeMs);
        assert.equal((await readStarted(d))?.pid, 4242);
      });

      it('present but empty (no follower came): waits ~1 s, then reports the start; "none": no wait', async () => {
        const d = await hookDir('check');
        const note = eventsNote(stateDir, d);
        await createEventsNote(note);
        const t0 = Date.now();
        const r = await runHook(d).done;
        assert.equal(r.code, 0, r.err);
        assert.ok(Date.now() - t0 >= 900, `the hook waited ${Date.now() - t0} ms`);
        assert.equal((await readStarted(d))?.pid, 4242);
        await clearStarted(d);
        writeFileSync(note.file, 'none\n');
        assert.equal((await runHook(d, { pid: 4243 }).done).code, 0);
        assert.equal((await readStarted(d))?.pid, 4243);
      });

      it('absent (a start by hand): reports the start', async () => {
        const d = await hookDir('check');
        assert.equal(await readEventsNote(hookFile(d, 'events')), undefined);
        const r = await runHook(d, { pid: 77 }).done;
        assert.equal(r.code, 0, r.err);
        assert.equal((await readStarted(d))?.pid, 77);
      });
    });
  });
});
