import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Runtime } from '../../src/base/engine';
import { CancelledError, CommandFailedError } from '../../src/base/errors';
import { ANNOTATIONS, CLI_LABELS, LABELS } from '../../src/base/labels';
import { parseMount } from '../../src/base/mounts';
import { parseGate, parsePregate } from '../../src/base/protocol';
import type { CliCall, ProcessOutput, RunOptions, Runner } from '../../src/base/runner';
import type { AgentRequest, AgentResult } from '../../src/firewall/agent';
import { CAP_BITS, type ProcPrivilege } from '../../src/hardening/privilege';
import type { UpHost } from '../../src/ops/upHost';

/**
 * A scripted engine for `up`: containers, images and volumes as data, the devcontainers CLI
 * (with the podman shim and OCI hook) as a few rules, and a log of every call. Faults make
 * one step fail the way the real tools fail.
 */

/** hdc's egress image as the fake engine has it (docker): the id a test records as built. */
export const FAKE_EGRESS_ID = `sha256:${'e'.repeat(64)}`;

export type Role = 'workspace' | 'guard' | 'sidecar' | 'foreign';
export type Status = 'created' | 'running' | 'exited';

export interface FakeMount { type: 'bind' | 'volume'; name: string; source: string; destination: string; rw: boolean }

export interface FakeContainer {
  id: string;
  name: string;
  role: Role;
  labels: Record<string, string>;
  status: Status;
  pid: number;
  imageId: string;
  runArgs: string[];
  mounts: FakeMount[];
  /** There before the up (made by the test). */
  preexisting: boolean;
  /** Status when the test made it. */
  initialStatus: Status;
  sudoRevoked: boolean;
  /** What the pregate said when the shim let the CLI create it (podman): "open UID GID". */
  pregate?: string;
}

export interface FakeImage { id: string; user: string; passwd: string }

/** One failure, injected where the real tool would fail. */
export interface Faults {
  /** `podman version` / `docker info` fails. */
  engineInfo?: boolean;
  /** The image is not local and its pull fails. */
  imageMissing?: boolean;
  /** `devcontainer read-configuration` fails. */
  readConfiguration?: boolean;
  /** The image's /etc/passwd lacks the remote user. */
  userMissing?: boolean;
  /** The container is created but never starts (the OCI hook or the runtime refuses). */
  start?: boolean;
  /** readProcStatus: the first process holds SYS_ADMIN and runs without seccomp. */
  weaker?: boolean;
  /** The firewall agent: the blocked target answers. */
  unverified?: boolean;
  /** The firewall agent: the blocked target answers the first time only. */
  unverifiedOnce?: boolean;
  /** The sidecar: its image is missing, or it exits at once. */
  sidecar?: 'exits' | 'no-image';
  /** The postCreateCommand exits 3. */
  lifecycle?: boolean;
  /** The revocation script's own check: `sudo -n true` still succeeds. */
  sudoHolds?: boolean;
  /** The revocation script fails (exit 1). */
  revokeFails?: boolean;
}

/** A call or an event, in the order it happened. */
export interface Recorded {
  seq: number;
  /** 'engine <sub>', 'cli <sub>', 'agent', 'revoke', 'host <fn>', or 'event <what>'. */
  what: string;
  argv: string[];
  /** The container it addressed, when there is one. */
  target?: string;
  detail?: string;
}

const WS_IMAGE_ID = `sha256:${'a1'.repeat(32)}`;
const PASSWD_ROOT = 'root:x:0:0:root:/root:/bin/bash\n';
const PASSWD_USER = 'vscode:x:1000:1000::/home/vscode:/bin/bash\n';

/** What the CLI's JSON result and its log look like. */
const cliResult = (rec: Record<string, unknown>, exitCode: number, stderr = ''): ProcessOutput => ({ stdout: `${JSON.stringify(rec)}\n`, stderr, exitCode });
const cliLog = (text: string): string => `${JSON.stringify({ type: 'text', level: 3, timestamp: 1, text })}\n`;

class Cancel extends Error {}

/** Capabilities an engine gives by default, without the ones hdc drops (NET_RAW, MKNOD, NET_BIND_SERVICE). */
const DEFAULT_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 18, 29, 31].reduce((m, b) => m | (1n << BigInt(b)), 0n);

export function procPrivilege(weaker: boolean): ProcPrivilege {
  const bnd = weaker ? DEFAULT_CAPS | (1n << BigInt(CAP_BITS.SYS_ADMIN)) : DEFAULT_CAPS;
  return { caps: { CapBnd: bnd, CapInh: 0n, CapPrm: bnd, CapEff: bnd, CapAmb: 0n }, capBnd: bnd, seccomp: weaker ? 0 : 2, noNewPrivs: false };
}

export class FakeEngine {
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, FakeImage>();
  readonly volumes = new Set<string>();
  readonly calls: Recorded[] = [];
  /** Calls the model has no rule for: each is a test failure. */
  readonly unexpected: string[] = [];
  faults: Faults = {};
  /** Aborts `controller` when this recorded call or event comes (a Ctrl-C mid-way). */
  abortAt?: (r: Recorded) => boolean;
  readonly controller = new AbortController();
  /** How long the CLI works before its first `run` (reading the config, `ps`, `inspect`). */
  cliWorkMs = 10;
  /** What the image's apt sources read as (the apt preset): each file after an RS line with its path. */
  aptSources = '\x1e/etc/apt/sources.list.d/debian.sources\nTypes: deb\nURIs: http://deb.example.net/debian\nSuites: bookworm\n\n';
  /** Calls still running. */
  inFlight = 0;
  private seq = 0;
  private nextPid = 41000;

  constructor(readonly runtime: Runtime, readonly enginePath: string, readonly workspaceFolder: string, readonly configFile: string, readonly imageRef: string) {
    this.images.set(imageRef, { id: WS_IMAGE_ID, user: '', passwd: PASSWD_ROOT + PASSWD_USER });
    // docker: hdc's egress image (the guard's), as the host set-up or a first up built it.
    if (runtime === 'docker') this.images.set(FAKE_EGRESS_ID, { id: FAKE_EGRESS_ID, user: '', passwd: PASSWD_ROOT });
  }

  /** The runner `up` gets: every process goes through here. */
  readonly runner: Runner = async <T>(call: CliCall<T>, options: RunOptions): Promise<T> => {
    this.inFlight++;
    try {
      const out = await this.answer(call, options);
      const accepted = out.exitCode === 0 || (call.acceptExitCodes ?? []).includes(out.exitCode);
      if (!accepted) throw new CommandFailedError(call.command, call.args, out.exitCode, out.stdout, out.stderr);
      return call.parse(out);
    } catch (e) {
      // As the real runner: a cancelled process is a CancelledError.
      if (e instanceof Cancel) throw new CancelledError(`${call.command} ${call.args[0] ?? ''}`.trim());
      throw e;
    } finally {
      this.inFlight--;
    }
  };

  /** What up touches on the host, faked. */
  readonly host: UpHost = {
    installOciHook: async () => { this.record('host installOciHook', []); },
    readProcStatus: async (pid) => {
      this.record('host readProcStatus', [String(pid)], this.byPid(pid)?.name);
      return this.byPid(pid) ? procPrivilege(!!this.faults.weaker) : undefined;
    },
    podmanStoreRoots: async () => ['/nonexistent/hdc-fake/storage'],
    requireCatatonit: async () => undefined,
    // No resolver runs here: its checks fail at once (no socket), and the agent checks.
    verifyInResolver: async () => { throw Object.assign(new Error('the filtering resolver does not answer (ENOENT)'), { code: 'ENOENT' }); },
  };

  /** A container that exists before the up. */
  addContainer(c: Partial<FakeContainer> & { name: string; role: Role; status: Status }): FakeContainer {
    const id = randomBytes(32).toString('hex');
    const labels = c.labels ?? (c.role === 'workspace' ? this.workspaceLabels() : {});
    const full: FakeContainer = {
      id, labels, pid: c.status === 'running' ? this.nextPid++ : 0, imageId: WS_IMAGE_ID, runArgs: [], mounts: [], sudoRevoked: false,
      preexisting: true, initialStatus: c.status, ...c };
    this.containers.set(id, full);
    return full;
  }

  workspaceLabels(): Record<string, string> {
    return { [CLI_LABELS.localFolder]: this.workspaceFolder, [CLI_LABELS.configFile]: this.configFile };
  }

  find(ref: string): FakeContainer | undefined {
    return this.containers.get(ref) ?? [...this.containers.values()].find((c) => c.name === ref);
  }

  byPid(pid: number): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.status === 'running' && c.pid === pid);
  }

  of(role: Role): FakeContainer[] {
    return [...this.containers.values()].filter((c) => c.role === role);
  }

  /** Index of the first recorded entry matching, or -1. */
  indexOf(pred: (r: Recorded) => boolean): number {
    return this.calls.findIndex(pred);
  }

  private record(what: string, argv: string[], target?: string, detail?: string): Recorded {
    const r: Recorded = { seq: this.seq++, what, argv, target, detail };
    this.calls.push(r);
    if (this.abortAt?.(r)) this.controller.abort();
    return r;
  }

  private check(signal?: AbortSignal): void {
    if (signal?.aborted) throw new Cancel();
  }

  private async answer(call: CliCall<unknown>, options: RunOptions): Promise<ProcessOutput> {
    const argv = [call.command, ...call.args];
    if (call.command === process.execPath && call.args[0]?.endsWith('devcontainer.js')) {
      const sub = call.args[1];
      this.record(`cli ${sub}`, argv);
      // A process started after Ctrl-C is killed at once.
      this.check(options.signal);
      if (sub === 'read-configuration') return this.readConfiguration();
      if (sub === 'up') return this.cliUp(call, options);
      if (sub === 'run-user-commands') return this.runUserCommands(options);
    } else if (call.command === this.enginePath || call.command === 'nsenter') {
      return this.engine(call, options);
    }
    this.unexpected.push(argv.join(' '));
    return { stdout: '', stderr: `fake: no rule for ${argv.join(' ')}`, exitCode: 127 };
  }

  private async engine(call: CliCall<unknown>, options: RunOptions): Promise<ProcessOutput> {
    const a = call.args;
    const ok = (stdout = ''): ProcessOutput => ({ stdout, stderr: '', exitCode: 0 });
    const fail = (stderr: string, exitCode = 125): ProcessOutput => ({ stdout: '', stderr: `${stderr}\n`, exitCode });
    // The podman firewall agent: [podman] unshare nsenter -t PID -n -- node agent, or nsenter --user=… -- nsenter -t PID …
    const t = a.indexOf('-t');
    if (call.command === 'nsenter' || (a[0] === 'unshare' && a[1] === 'nsenter')) {
      const c = this.byPid(Number(a[t + 1]));
      this.record('agent', [call.command, ...a], c?.name);
      this.check(options.signal);
      if (!c) return fail('nsenter: cannot open /proc/0/ns/net: No such file or directory', 1);
      return ok(this.agentAnswer(await call.input));
    }
    const sub = a[0] === 'container' || a[0] === 'image' || a[0] === 'volume' ? `${a[0]} ${a[1]}` : a[0];
    const addressed = ['logs', 'start', 'stop', 'rm', 'container inspect'].includes(sub) ? this.find(a[a.length - 1])?.name : undefined;
    const rec = this.record(`engine ${sub}`, [call.command, ...a], addressed);
    this.check(options.signal);
    const notFound = (ref: string): ProcessOutput => fail(`Error: no such container ${ref}`, this.runtime === 'docker' ? 1 : 125);
    switch (sub) {
      case 'version':
      case 'info':
        if (this.faults.engineInfo) return fail('Error: cannot connect to the engine: permission denied', 125);
        return ok(sub === 'version' ? '4.9.3\n' : `${JSON.stringify({ ServerVersion: '24.0.7', SecurityOptions: ['name=seccomp,profile=builtin', 'name=rootless'] })}\n`);
      case 'image inspect': {
        const img = this.image(a[2]);
        return img ? ok(JSON.stringify([{ Id: img.id, Config: { User: img.user, Labels: {} } }])) : fail(`Error: ${a[2]}: image not known`, 125);
      }
      case 'pull':
        return fail(`Error: initializing source docker://${a[1]}: reading manifest 1 in ${a[1]}: manifest unknown`);
      case 'run': {
        if (a[1] === '--rm') {
          // catFromImage: run --rm --network none --entrypoint cat IMAGE FILES…
          const img = this.image(a[6]);
          if (!img) return fail(`Error: ${a[6]}: image not known`);
          // aptSourceFiles: run --rm --network none --entrypoint /bin/sh IMAGE -c SCRIPT
          if (a[5] === '/bin/sh') return ok(this.aptSources);
          return ok(a.slice(7).map((f) => (f === '/etc/passwd' ? (this.faults.userMissing ? PASSWD_ROOT : img.passwd) : 'root:x:0:\nvscode:x:1000:\n')).join(''));
        }
        if (a[1] === '-d') return this.runDetached(a.slice(2), rec);
        break;
      }
      case 'ps': {
        const filters = a.flatMap((x, i) => (a[i - 1] === '--filter' && x.startsWith('label=') ? [x.slice('label='.length)] : []));
        const ids = [...this.containers.values()].filter((c) => filters.every((f) => {
          const at = f.indexOf('=');
          return c.labels[f.slice(0, at)] === f.slice(at + 1);
        }));
        if (a.includes('json')) return ok(JSON.stringify(ids.map((c) => ({ Id: c.id, State: c.status === 'running' ? 'running' : 'exited', Labels: c.labels }))));
        if (a.includes('--format')) return ok(ids.map((c) => `${c.id} ${c.status}\n`).join(''));
        return ok(ids.map((c) => `${c.id}\n`).join(''));
      }
      case 'container inspect': {
        if (a[2] === '--format') {
          rec.target = this.find(a[4])?.name;
          return ok('null\n');
        }
        const c = this.find(a[2]);
        rec.target = c?.name;
        return c ? ok(JSON.stringify([this.inspectRecord(c)])) : notFound(a[2]);
      }
      case 'logs': {
        const c = this.find(a[a.length - 1]);
        rec.target = c?.name;
        if (!c) return notFound(a[a.length - 1]);
        return ok(c.role === 'guard' ? 'hdc-guard-ready\n' : 'Error: mounting the graph volume: permission denied\n');
      }
      case 'start': {
        const c = this.find(a[1]);
        rec.target = c?.name;
        if (!c) return notFound(a[1]);
        this.setRunning(c);
        return ok(`${a[1]}\n`);
      }
      case 'stop': {
        const c = this.find(a[3]);
        rec.target = c?.name;
        if (!c) return notFound(a[3]);
        c.status = 'exited';
        return ok(`${a[3]}\n`);
      }
      case 'rm': {
        const c = this.find(a[2]);
        rec.target = c?.name;
        if (!c) return notFound(a[2]);
        this.containers.delete(c.id);
        return ok(`${c.id}\n`);
      }
      case 'volume inspect':
        return this.volumes.has(a[4]) ? ok(`${a[4]}\n`) : fail(`Error: no such volume ${a[4]}`);
      case 'volume rm': {
        const name = a[2];
        if (!this.volumes.has(name)) return fail(`Error: no such volume ${name}`, 1);
        const user = [...this.containers.values()].find((c) => c.mounts.some((m) => m.type === 'volume' && m.name === name));
        if (user) return fail(`Error: volume ${name} is being used by the following container(s): ${user.id}: volume is being used`, 2);
        this.volumes.delete(name);
        return ok(`${name}\n`);
      }
      case 'exec':
        return this.exec(call, options, rec);
    }
    this.unexpected.push([call.command, ...a].join(' '));
    return fail(`fake: no rule for ${a.join(' ')}`, 127);
  }

  private image(ref: string): FakeImage | undefined {
    if (this.faults.imageMissing && ref === this.imageRef) return undefined;
    if (this.faults.sidecar === 'no-image' && ref !== this.imageRef && ![...this.images.values()].some((i) => i.id === ref)) return undefined;
    return this.images.get(ref) ?? [...this.images.values()].find((i) => i.id === ref);
  }

  private setRunning(c: FakeContainer): void {
    if (c.status !== 'running') c.pid = this.nextPid++;
    c.status = 'running';
  }

  private inspectRecord(c: FakeContainer): unknown {
    const args = c.runArgs;
    const values = (flag: string): string[] => args.flatMap((x, i) => (x === flag ? [args[i + 1]] : x.startsWith(`${flag}=`) ? [x.slice(flag.length + 1)] : []));
    return {
      Id: c.id, Name: this.runtime === 'docker' ? `/${c.name}` : c.name,
      State: { Status: c.status, Running: c.status === 'running', Pid: c.status === 'running' ? c.pid : 0 },
      Config: { Labels: c.labels, Image: this.imageRef, User: '' }, Image: c.imageId,
      Mounts: c.mounts.map((m) => ({ Type: m.type, Name: m.name, Source: m.source, Destination: m.destination, RW: m.rw })),
      HostConfig: {
        Privileged: args.includes('--privileged'), CapAdd: values('--cap-add'), SecurityOpt: values('--security-opt'),
        NetworkMode: values('--network').pop() ?? 'bridge', PidMode: '', IpcMode: 'private', UTSMode: '', UsernsMode: '', Devices: [] } };
  }

  /** `run -d ARGS…`: the docker guard or the sidecar. */
  private runDetached(args: string[], rec: Recorded): ProcessOutput {
    const labels: Record<string, string> = {};
    const mounts: FakeMount[] = [];
    let name = '';
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--name') name = args[++i];
      else if (args[i] === '--label') {
        const [k, ...v] = args[++i].split('=');
        labels[k] = v.join('=');
      } else if (args[i] === '--mount') {
        const spec = args[++i];
        const { source = '', target = '' } = parseMount(spec);
        const volume = spec.startsWith('type=volume');
        if (volume) this.volumes.add(source);
        mounts.push({ type: volume ? 'volume' : 'bind', name: volume ? source : '', source, destination: target, rw: !spec.includes('readonly') });
      }
    }
    if (this.find(name)) return { stdout: '', stderr: `Error: the container name "${name}" is already in use\n`, exitCode: 125 };
    const role: Role = labels[LABELS.guardFor] ? 'guard' : labels[LABELS.sidecarFor] ? 'sidecar' : 'foreign';
    const id = randomBytes(32).toString('hex');
    const exits = role === 'sidecar' && this.faults.sidecar === 'exits';
    // A running sidecar would need a real socket (sidecar.ts connects to /proc/PID/root/…).
    if (role === 'sidecar' && !exits) this.unexpected.push('a running sidecar: its socket cannot be faked');
    const c: FakeContainer = {
      id, name, role, labels, status: exits ? 'exited' : 'running', pid: exits ? 0 : this.nextPid++, imageId: WS_IMAGE_ID,
      runArgs: args, mounts, preexisting: false, initialStatus: 'running', sudoRevoked: false };
    this.containers.set(id, c);
    rec.target = name;
    return { stdout: `${id}\n`, stderr: '', exitCode: 0 };
  }

  private async exec(call: CliCall<unknown>, options: RunOptions, rec: Recorded): Promise<ProcessOutput> {
    const a = call.args;
    let i = 1;
    let user = '';
    while (a[i]?.startsWith('-')) {
      if (a[i] === '-u') user = a[++i];
      else if (a[i] === '-w' || a[i] === '-e') i++;
      i++;
    }
    const c = this.find(a[i]);
    const command = a.slice(i + 1);
    rec.target = c?.name;
    if (!c || c.status !== 'running') return { stdout: '', stderr: `Error: container ${a[i]} is not running\n`, exitCode: 125 };
    if (command[0] === 'sh' && command[1] === '-s' && user === 'root') {
      rec.what = 'revoke';
      // The prepared exec waits for its script; cancelled, its stdin closes empty and sh exits.
      const script = await this.untilAborted(Promise.resolve(call.input), options.signal).catch((e: unknown) => {
        if (e instanceof Cancel) throw e;
        return undefined;
      });
      if (!script) return { stdout: '', stderr: '', exitCode: 0 };
      if (c.status !== 'running') return { stdout: '', stderr: 'Error: container is not running\n', exitCode: 125 };
      if (this.faults.revokeFails) return { stdout: '', stderr: 'gpasswd: cannot lock /etc/group; try again later.\n', exitCode: 1 };
      c.sudoRevoked = !this.faults.sudoHolds;
      this.record('event revoked', [], c.name);
      this.check(options.signal);
      const check = this.faults.sudoHolds ? 'sudo-check: SUCCEEDED' : 'sudo-check: fails: sudo: a password is required';
      return { stdout: `${check}\nroot-password: locked\nrevoked\n`, stderr: '', exitCode: 0 };
    }
    if (command[0] === '/hdc/node') {
      rec.what = 'agent';
      return { stdout: this.agentAnswer(await call.input), stderr: '', exitCode: 0 };
    }
    if (command[0] === 'cat' && command[1] === '/etc/resolv.conf') return { stdout: 'nameserver 192.0.2.53\n', stderr: '', exitCode: 0 };
    if (command[0] === 'ln') return { stdout: '', stderr: '', exitCode: 0 };
    this.unexpected.push(['exec', ...a].join(' '));
    return { stdout: '', stderr: 'fake: no rule', exitCode: 127 };
  }

  private agentAnswers = 0;

  private agentAnswer(input: string | undefined): string {
    const req = JSON.parse(input ?? '{}') as AgentRequest;
    const unverified = this.faults.unverified || (this.faults.unverifiedOnce && this.agentAnswers === 0);
    this.agentAnswers++;
    const allowed = req.verify?.allowed;
    const blocked = req.verify?.blocked;
    const result: AgentResult = {
      dns: { v4: ['192.0.2.53'], v6: [] },
      unresolved: [],
      resolver: { pid: 4242, generation: 1, upstream: ['192.0.2.53'], rules: { allowed: req.policy.domains.length, denied: 0, ipv6: false }, stats: { queries: 1, refused: 1, forwarded: 0, failed: 0, admitted: 0 } },
      portStart: 1024,
      loaded: { v4: req.policy.domains.length, v6: 0 },
      verify: {
        allowed: allowed && { target: `${allowed.host}:${allowed.port}`, address: '198.51.100.1', ok: true, detail: 'connected', ms: 2 },
        blocked: blocked && (unverified
          ? { target: `${blocked.host}:${blocked.port}`, address: '10.0.2.2', ok: false, detail: 'connected (nothing refused it)', ms: 1 }
          : { target: `${blocked.host}:${blocked.port}`, address: '10.0.2.2', ok: true, detail: 'refused', ms: 1 }) },
      ms: { load: 1, verify: 2 } };
    return `${JSON.stringify(result)}\n`;
  }

  private readConfiguration(): Promise<ProcessOutput> | ProcessOutput {
    if (this.faults.readConfiguration) {
      // The CLI writes its error (a stack) to its JSON log and exits 1.
      return { stdout: '', stderr: cliLog('Error: Dev container config (/x/devcontainer.json) is missing one of "image", "dockerFile" or "dockerComposeFile" properties.\n    at kW (devContainersSpecCLI.js:1:1)'), exitCode: 1 };
    }
    return readFile(this.configFile, 'utf8').then((text) => {
      const target = `/workspaces/${path.basename(this.workspaceFolder)}`;
      const rec = {
        configuration: JSON.parse(text) as unknown,
        workspace: { workspaceFolder: target, workspaceMount: `type=bind,source=${this.workspaceFolder},target=${target},consistency=cached` },
        featuresConfiguration: { featureSets: [] },
        mergedConfiguration: { ...(JSON.parse(text) as object), configFilePath: this.configFile } };
      return { stdout: `${JSON.stringify(rec)}\n`, stderr: '', exitCode: 0 };
    });
  }

  /** Waits for a protocol file to be written (as the shim does); a file never written fails after 5 s. */
  private async waitFor(file: string, signal?: AbortSignal): Promise<string | undefined> {
    for (let n = 0; n < 1000; n++) {
      this.check(signal);
      const text = (await readFile(file, 'utf8').catch(() => '')).trim();
      if (text) return text;
      await sleep(5);
    }
    return undefined;
  }

  private async untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return p;
    this.check(signal);
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => { onAbort = () => reject(new Cancel()); signal.addEventListener('abort', onAbort, { once: true }); });
    try {
      return await Promise.race([p, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * `devcontainer up`: on podman through the shim (the pregate, then the exec gate) and the
   * OCI hook (`started`); on docker with --skip-post-create, no lifecycle.
   */
  private async cliUp(call: CliCall<unknown>, options: RunOptions): Promise<ProcessOutput> {
    const env = call.env ?? {};
    const signal = options.signal;
    const arg = (flag: string): string => call.args[call.args.indexOf(flag) + 1];
    const shimFailure = (cmd: string, words: string): ProcessOutput =>
      cliResult({ outcome: 'error', message: `Command failed: ${cmd}`, description: 'An error occurred setting up the container.' }, 1, cliLog(words));
    if (env.HDC_PREGATE) {
      const state = await this.waitFor(env.HDC_PREGATE, signal);
      this.record('event pregate', [], undefined, state);
      if (!state) return shimFailure('podman-shim.sh ps', 'fake: the pregate was never written');
      if (parsePregate(state)?.kind !== 'open') return shimFailure('podman-shim.sh ps', 'hardened-devcontainers: hdc stopped this up before its container was made; refusing');
    }
    await sleep(this.cliWorkMs);
    this.check(signal);
    const overrideFile = arg('--override-config');
    const override = await readFile(overrideFile, 'utf8').then((t) => JSON.parse(t) as { runArgs?: string[]; mounts?: string[] }, () => undefined);
    if (!override) return shimFailure('read override', `fake: ${overrideFile} is missing`);
    const runArgs = override.runArgs ?? [];
    const name = runArgs[runArgs.indexOf('--name') + 1];
    const podman = this.runtime === 'podman';
    const engineError = (text: string): string => (podman ? `Error: ${text}` : `docker: Error response from daemon: ${text}`);

    let c = [...this.containers.values()].find((x) => x.labels[CLI_LABELS.localFolder] === arg('--workspace-folder') && x.labels[CLI_LABELS.configFile] === this.configFile);
    if (!c) {
      const holder = this.find(name);
      if (holder) {
        return cliResult({ outcome: 'error', message: `Command failed: ${podman ? 'podman' : 'docker'} run --name ${name}`, description: 'An error occurred setting up the container.' }, 1,
          cliLog(engineError(`creating container storage: the container name "${name}" is already in use by ${holder.id}. You have to remove that container to be able to reuse that name: that name is already in use`)));
      }
      const target = `/workspaces/${path.basename(this.workspaceFolder)}`;
      const mounts: FakeMount[] = [{ type: 'bind', name: '', source: this.workspaceFolder, destination: target, rw: true },
        ...(override.mounts ?? []).map((m): FakeMount => {
          const { source = '', target: dst = '' } = parseMount(m);
          const volume = m.startsWith('type=volume');
          return { type: volume ? 'volume' : 'bind', name: volume ? source : '', source, destination: dst, rw: !/(^|,)readonly(,|$)/.test(m) };
        })];
      // podman and docker create a named volume on first use.
      for (const m of mounts) if (m.type === 'volume') this.volumes.add(m.name);
      const labels: Record<string, string> = { ...this.workspaceLabels() };
      runArgs.forEach((x, i) => {
        if (runArgs[i - 1] !== '--label') return;
        const [k, ...v] = x.split('=');
        labels[k] = v.join('=');
      });
      c = {
        id: randomBytes(32).toString('hex'), name, role: 'workspace', labels, status: 'created', pid: 0, imageId: WS_IMAGE_ID, runArgs, mounts,
        preexisting: false, initialStatus: 'created', sudoRevoked: false, pregate: env.HDC_PREGATE ? (await readFile(env.HDC_PREGATE, 'utf8')).trim() : undefined };
      this.containers.set(c.id, c);
      this.record('event created', [], name);
      this.check(signal);
    }
    if (c.status !== 'running') {
      if (this.faults.start) {
        const words = podman
          ? 'Error: error running hook #0: exit status 1, stdout: , stderr: hardened-devcontainers: refused: the container would hold SYS_ADMIN'
          : engineError('failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: exec: "sleep": executable file not found in $PATH: unknown');
        return cliResult({ outcome: 'error', message: `Command failed: ${podman ? 'podman' : 'docker'} run --name ${name}`, description: 'An error occurred setting up the container.' }, 1, cliLog(words));
      }
      this.setRunning(c);
      if (podman) await this.hook(c);
      this.check(signal);
    }
    if (env.HDC_GATE) {
      const state = await this.waitFor(env.HDC_GATE, signal);
      this.record('event gate', [], c.name, state);
      if (!state || parseGate(state) !== 'open') return shimFailure(`podman-shim.sh exec ${c.id}`, 'hardened-devcontainers: the firewall was not verified; refusing exec');
    }
    if (!call.args.includes('--skip-post-create')) {
      const failed = this.lifecycle(c.name);
      this.check(signal);
      if (failed) return failed;
    }
    return cliResult({ outcome: 'success', containerId: c.id, remoteUser: 'vscode', remoteWorkspaceFolder: `/workspaces/${path.basename(this.workspaceFolder)}` }, 0);
  }

  /** The OCI hook at the container's start: reads its directory (the annotation), writes `started`. */
  private async hook(c: FakeContainer): Promise<void> {
    const annotation = c.runArgs.find((x, i) => c.runArgs[i - 1] === '--annotation' && x.startsWith(`${ANNOTATIONS.firewall}=`));
    if (!annotation) return;
    const dir = annotation.slice(ANNOTATIONS.firewall.length + 1);
    const mode = (await readFile(path.join(dir, 'mode'), 'utf8').catch(() => '')).trim();
    const needs = mode === 'firewall' ? ['privilege', 'ipset.restore', 'rules.v4', 'rules.v6'] : mode === 'check' ? ['privilege'] : [];
    const present = await Promise.all(needs.map((f) => stat(path.join(dir, f)).then(() => true, () => false)));
    if (!needs.length || present.includes(false)) {
      this.unexpected.push(`the hook found no usable "${mode}" files in ${dir}`);
      return;
    }
    await writeFile(path.join(dir, 'started'), `${c.pid} ${c.id}\n`, { mode: 0o600 });
    this.record('event started', [], c.name, String(c.pid));
  }

  /** The lifecycle commands (postCreateCommand): the CLI's result when one fails. */
  private lifecycle(name: string): ProcessOutput | undefined {
    this.record('event lifecycle', [], name);
    if (!this.faults.lifecycle) return undefined;
    return cliResult({ outcome: 'error', message: 'Command failed: /bin/sh -c make setup', description: 'The postCreateCommand in the devcontainer.json failed.' }, 1,
      cliLog('make: *** No rule to make target \'setup\'.  Stop.'));
  }

  private async runUserCommands(options: RunOptions): Promise<ProcessOutput> {
    const c = this.of('workspace').find((x) => x.status === 'running');
    const failed = this.lifecycle(c?.name ?? '');
    this.check(options.signal);
    return failed ?? cliResult({ outcome: 'success' }, 0);
  }
}
