import { execa } from 'execa';
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ANNOTATIONS } from '../../src/base/labels';
import { asUser, BASE_IMAGE, chownTree, containersOf, destroyWorkspace, engine, hashTree, hdc, makeWorkspace, workspaceOwner, type Result, type Runtime } from '../support/testbed';

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean; warning?: boolean; evidence: string }[];
}

/** A hello workspace that is a git repository with workspace settings, owned for the engine. */
async function hardenedWorkspace(runtime: Runtime, config?: Record<string, unknown>): Promise<string> {
  const ws = makeWorkspace(runtime);
  await execa('git', ['init', '-q', ws]);
  mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({
    'hardenedDevcontainers.firewall.allowedDomains': [], 'hardenedDevcontainers.firewall.presets': [],
    'hardenedDevcontainers.limits.cpus': '1', 'hardenedDevcontainers.limits.memory': '512m', 'hardenedDevcontainers.limits.pids': 1000,
  }, null, 2));
  if (config) writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
  chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
  return ws;
}

/** Lifecycle order, sudo, read-only config, limits and the self-checking report, for one engine. */
export function hardeningContract(runtime: Runtime): void {
  describe(`hardened lifecycle (${runtime})`, () => {
    let ws: string;
    let id: string;
    const inside = (args: string[]): Promise<Result> => hdc(runtime, ['exec', ws, '--', ...args], { timeoutMs: 30_000 });
    const report = async (): Promise<{ r: Result; report: Report }> => {
      const r = await hdc(runtime, ['status', ws, '--json']);
      return { r, report: JSON.parse(r.stdout) as Report };
    };
    const failing = (rep: Report): string[] => rep.checks.filter((c) => !c.ok).map((c) => c.name);

    /** Runs a command in the workspace's netns from outside (the guard on docker). */
    async function inNetns(argv: string[], input?: string): Promise<Result> {
      if (runtime === 'docker') {
        const name = (await engine('docker', ['container', 'inspect', '--format', '{{.Name}}', id])).stdout.trim().replace(/^\//, '');
        const r = await execa('docker', ['exec', '-i', `${name}-fw`, ...argv], { input, reject: false });
        return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: false };
      }
      const pid = (await engine('podman', ['container', 'inspect', '--format', '{{.State.Pid}}', id])).stdout.trim();
      const [cmd, args] = asUser(['podman', 'unshare', 'nsenter', '-t', pid, '-n', '--', ...argv]);
      const r = await execa(cmd, args, { input, reject: false, cwd: '/tmp' });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: false };
    }

    before(async function () {
      this.timeout(300_000);
      ws = await hardenedWorkspace(runtime);
      const r = await hdc(runtime, ['up', ws, '--json']);
      assert.equal(r.exitCode, 0, r.stderr);
      [id] = await containersOf(runtime, ws);
    });
    after(async () => destroyWorkspace(runtime, ws));

    it('revokes sudo after the lifecycle: sudo -n true and su fail as vscode', async () => {
      assert.equal((await inside(['id', '-un'])).stdout.trim(), 'vscode');
      const sudo = await inside(['sudo', '-n', 'true']);
      assert.notEqual(sudo.exitCode, 0, 'sudo still works');
      assert.match(sudo.stderr, /password is required|not in the sudoers|may not run sudo/);
      assert.notEqual((await inside(['su', '-c', 'true', 'root'])).exitCode, 0, 'su works');
      assert.equal(readFileSync(path.join(ws, '.postcreate-ran'), 'utf8').trim(), 'created by vscode (1000)', 'the lifecycle ran before the revocation');
    });

    it(`keeps sudo revoked after "${runtime} restart" by hand`, async () => {
      assert.equal((await engine(runtime, ['restart', '-t', '1', id])).exitCode, 0);
      assert.notEqual((await inside(['sudo', '-n', 'true'])).exitCode, 0);
    });

    it('mounts .devcontainer, .vscode and .git/hooks read-only; the rest of the workspace stays writable', async () => {
      for (const dir of ['.devcontainer', '.vscode', '.git/hooks']) {
        const r = await inside(['touch', `${dir}/x`]);
        assert.notEqual(r.exitCode, 0, `${dir} is writable`);
        assert.match(r.stderr, /Read-only file system/, dir);
      }
      const ok = await inside(['sh', '-c', 'echo fine > written-inside.txt && mkdir -p src && touch src/a.ts']);
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.equal(readFileSync(path.join(ws, 'written-inside.txt'), 'utf8'), 'fine\n');
    });

    it('applies the limits the settings ask for, or says that the engine cannot', async () => {
      const { report: rep } = await report();
      const limits = rep.checks.find((c) => c.name === 'limits');
      const inspect = JSON.parse((await engine(runtime, ['container', 'inspect', '--format', '{{json .HostConfig}}', id])).stdout);
      if (limits?.warning) {
        // Rootless podman on this cgroup v1 host ignores limits: the report must say so.
        assert.equal(runtime, 'podman');
        assert.match(limits.evidence, /not enforced: rootless podman ignores resource limits on a cgroup v1 host/);
      } else {
        assert.equal(inspect.PidsLimit, 1000);
        assert.equal(inspect.NanoCpus, 1e9);
        assert.equal(inspect.Memory, 512 * 1024 * 1024);
        assert.ok(limits?.ok, limits?.evidence);
      }
    });

    it('hdc status --json is all green on a healthy container', async () => {
      const { r, report: rep } = await report();
      assert.equal(r.exitCode, 0, r.stdout);
      assert.equal(rep.ok, true);
      assert.deepEqual(rep.checks.map((c) => c.name).sort(), ['capabilities', 'dns', 'firewall', 'limits', 'read-only config', 'rootless engine', 'sudo']);
      assert.deepEqual(failing(rep), []);
    });

    it('turns red for exactly the firewall and DNS when its rules are flushed from outside', async () => {
      const flush = await inNetns(['sh', '-c', 'iptables -P OUTPUT ACCEPT && iptables -F']);
      assert.equal(flush.exitCode, 0, flush.stderr);
      try {
        const { r, report: rep } = await report();
        assert.notEqual(r.exitCode, 0);
        // The filtering resolver is unreachable too: the INPUT rule that let the loopback in is gone.
        assert.deepEqual(failing(rep), ['firewall', 'dns']);
        assert.match(rep.checks.find((c) => c.name === 'firewall')?.evidence ?? '', /OUTPUT policy IPv4 ACCEPT/);
      } finally {
        // Put the rules back the way the start-time mechanism loads them.
        const dir = runtime === 'podman'
          ? (await engine('podman', ['container', 'inspect', '--format', `{{index .Config.Annotations "${ANNOTATIONS.firewall}"}}`, id])).stdout.trim()
          : '';
        const rules = runtime === 'podman' ? readFileSync(path.join(dir, 'rules.v4'), 'utf8') : undefined;
        const back = runtime === 'podman' ? await inNetns(['iptables-restore'], rules) : await inNetns(['sh', '-c', 'iptables-restore < /hdc-firewall/rules.v4']);
        assert.equal(back.exitCode, 0, back.stderr);
      }
      assert.equal((await report()).report.ok, true, 'green again once the rules are back');
    });

    it('turns red for exactly sudo when a sudoers line is put back as root', async () => {
      const r = await engine(runtime, ['exec', '-u', 'root', id, 'sh', '-c', 'echo "vscode ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/put-back && chmod 440 /etc/sudoers.d/put-back']);
      assert.equal(r.exitCode, 0, r.stderr);
      const { r: st, report: rep } = await report();
      assert.notEqual(st.exitCode, 0);
      assert.deepEqual(failing(rep), ['sudo']);
      assert.match(rep.checks.find((c) => c.name === 'sudo')?.evidence ?? '', /sudo -n true SUCCEEDED/);
    });
  });

  describe(`a failing lifecycle command (${runtime})`, () => {
    let ws: string;
    after(async () => destroyWorkspace(runtime, ws));

    it('gives a clear error with the container state, loses nothing, and still revokes sudo', async function () {
      this.timeout(300_000);
      ws = await hardenedWorkspace(runtime, { image: BASE_IMAGE, remoteUser: 'vscode', postCreateCommand: 'echo "the build broke" >&2; exit 3' });
      const before = hashTree(ws);
      const r = await hdc(runtime, ['up', ws]);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /A lifecycle command failed/);
      assert.match(r.stderr, /is still running under the verified firewall; sudo is revoked/);
      assert.deepEqual(hashTree(ws), before, 'the workspace is byte-identical');
      const sudo = await hdc(runtime, ['exec', ws, '--', 'sudo', '-n', 'true']);
      assert.notEqual(sudo.exitCode, 0, 'sudo was revoked even though the lifecycle failed');
    });
  });
}
