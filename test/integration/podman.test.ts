import { strict as assert } from 'node:assert';
import { execa } from 'execa';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { asUser, BASE_IMAGE, containersOf, destroyWorkspace, engine, HDC, hdc, makeWorkspace, requireEngine, TEST_UID } from '../support/testbed';
import { upDownContract } from './upDown.shared';

describe('rootless podman', function () {
  before(async () => requireEngine('podman'));

  upDownContract('podman');

  describe('keep-id shim', () => {
    let ws: string;
    const log = `/tmp/hdc-it-shim-${process.pid}.log`;
    before(async () => {
      ws = makeWorkspace('podman');
      rmSync(log, { force: true });
      const r = await hdc('podman', ['up', ws], { env: { HDC_SHIM_LOG: log } });
      assert.equal(r.exitCode, 0, r.stderr);
    });
    after(async () => {
      await destroyWorkspace('podman', ws);
      rmSync(log, { force: true });
    });

    // Each line of the shim log is one podman call: time, then argv, tab-separated.
    const calls = (): string[][] => readFileSync(log, 'utf8').split('\n').filter((l) => /^\d+\t/.test(l)).map((l) => l.split('\t').slice(1));

    it('hands podman --userns=keep-id:uid=1000,gid=1000 for the run', () => {
      const run = calls().find((argv) => argv[0] === 'run');
      assert.ok(run, 'the CLI ran the container through the shim');
      assert.ok(run.includes('--userns=keep-id:uid=1000,gid=1000'), run.join(' '));
      assert.ok(!run.includes('--userns=keep-id'), 'no bare keep-id is left');
    });

    it('never builds a uid-renumbered image', () => {
      assert.deepEqual(calls().filter((argv) => argv[0] === 'build' || (argv[0] === 'buildx' && argv[1] === 'build')), []);
    });

    it('adds --since to the events watcher', () => {
      const events = calls().find((argv) => argv[0] === 'events');
      assert.ok(events && events.includes('--since'), events?.join(' '));
    });

    it('maps the container user onto the unprivileged host user (rootless keep-id)', async () => {
      const [id] = await containersOf('podman', ws);
      const pid = (await engine('podman', ['container', 'inspect', '--format', '{{.State.Pid}}', id])).stdout.trim();
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const [, realUid] = /^Uid:\s+(\d+)/m.exec(status) ?? [];
      assert.equal(Number(realUid), TEST_UID, 'the container process runs as the test user on the host');
      const inside = await hdc('podman', ['exec', ws, '--', 'id', '-u']);
      assert.equal(inside.stdout.trim(), '1000');
    });
  });

  it('a user without subuid/subgid ranges is told how to add them', async () => {
    const ws = makeWorkspace('podman');
    try {
      chmodSync(ws, 0o755);
      chmodSync(path.join(ws, '.devcontainer'), 0o755);
      const r = await execa('runuser', ['-u', 'nobody', '--', 'env', '-i', 'HOME=/tmp', 'PATH=/usr/bin:/bin', process.execPath, HDC, 'up', ws, '--runtime', 'podman'],
        { reject: false, cwd: '/tmp', stdin: 'ignore' });
      assert.equal(r.exitCode, 3, String(r.stderr));
      assert.match(String(r.stderr), /No subuid range for user nobody \(uid 65534\) in \/etc\/subuid/);
      assert.match(String(r.stderr), /Fix: as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody/);
    } finally {
      await destroyWorkspace('podman', ws);
    }
  });

  describe('cancellation', () => {
    let ws: string;
    before(() => {
      ws = makeWorkspace('podman');
      // A lifecycle command slow enough to interrupt once the container exists.
      writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'),
        JSON.stringify({ image: BASE_IMAGE, remoteUser: 'vscode', postCreateCommand: 'sleep 120' }));
    });
    after(async () => destroyWorkspace('podman', ws));

    it('Ctrl-C during up stops the CLI and removes the container it created', async function () {
      this.timeout(120_000);
      const [cmd, args] = asUser([process.execPath, HDC, 'up', ws, '--runtime', 'podman']);
      const child = execa(cmd, args, { reject: false, cwd: '/tmp', stdin: 'ignore' });
      const deadline = Date.now() + 60_000;
      while ((await containersOf('podman', ws)).length === 0) {
        assert.ok(Date.now() < deadline, 'the container never appeared');
        await new Promise((r) => setTimeout(r, 200));
      }
      // Signal hdc itself (the child of runuser), as a terminal's Ctrl-C would.
      const hdcPid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
      process.kill(hdcPid, 'SIGINT');
      const result = await child;
      assert.equal(result.exitCode, 130, String(result.stderr));
      assert.match(String(result.stderr), /was cancelled/);
      assert.deepEqual(await containersOf('podman', ws), []);
    });
  });

  describe('20 up/down cycles', () => {
    const CYCLES = Number(process.env.HDC_CYCLES ?? 20);
    const PER_STEP_MS = 90_000;
    let ws: string;
    before(() => {
      ws = makeWorkspace('podman');
    });
    after(async () => destroyWorkspace('podman', ws));

    it(`has no hang in ${CYCLES} cycles`, async function () {
      this.timeout(CYCLES * 2 * PER_STEP_MS);
      const hangs: string[] = [];
      for (let i = 0; i < CYCLES; i++) {
        // Verbose, so that a hang names the step it hung in (the last lines, with timings).
        const upResult = await hdc('podman', ['up', ws], { timeoutMs: PER_STEP_MS, env: { HDC_VERBOSE: '1' } });
        if (upResult.timedOut) hangs.push(`cycle ${i}:\n${upResult.stderr.trim().split('\n').slice(-12).join('\n')}`);
        else assert.equal(upResult.exitCode, 0, `cycle ${i}: ${upResult.stderr.slice(-3000)}`);
        const downResult = await hdc('podman', ['down', ws], { timeoutMs: PER_STEP_MS });
        assert.equal(downResult.exitCode, 0, `cycle ${i} down: ${downResult.stderr}`);
        rmSync(path.join(ws, '.postcreate-ran'), { force: true });
      }
      assert.deepEqual(hangs, [], `up hung:\n${hangs.join('\n\n')}`);
    });
  });
});
