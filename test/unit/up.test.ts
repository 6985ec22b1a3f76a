import { strict as assert } from 'node:assert';
import { egressImageDir } from '../../src/firewall/egressImage';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineRefusedError } from '../../src/base/devcontainerCli';
import { EngineClient, type Runtime } from '../../src/base/engine';
import { EnvironmentError, HdcError, InputError } from '../../src/base/errors';
import { ANNOTATIONS, LABELS } from '../../src/base/labels';
import { workspaceStateDir } from '../../src/base/state';
import { takeLock } from '../../src/base/files';
import { DEFAULT_SETTINGS, type Settings } from '../../src/config/settings';
import { up, type UpResult, type UpStep } from '../../src/ops/up';
import { summarizeUp } from '../../src/ops/upSummary';
import { defaultContainerName } from '../../src/workspace/plan';
import { FAKE_EGRESS_ID, FakeEngine, type FakeContainer, type Faults, type Recorded, type Status } from '../support/fakeRunner';

/**
 * `up` against a scripted engine (test/support/fakeRunner.ts): one failure injected at each
 * step, on each engine, firewall and sidecar on or off. Each case checks what is left in the
 * engine (the error's fate), the error the user gets, and for the lifecycle that sudo was
 * revoked before the error.
 */

type Fate = 'clean' | 'stop' | 'remove' | 'keep';
interface Combo { runtime: Runtime; firewall: boolean; sidecar: boolean }

const P_FW: Combo = { runtime: 'podman', firewall: true, sidecar: false };
const P_FW_SC: Combo = { runtime: 'podman', firewall: true, sidecar: true };
const P_SC: Combo = { runtime: 'podman', firewall: false, sidecar: true };
const P_PLAIN: Combo = { runtime: 'podman', firewall: false, sidecar: false };
const D_FW: Combo = { runtime: 'docker', firewall: true, sidecar: false };
const D: Combo = { runtime: 'docker', firewall: false, sidecar: false };
/** docker has no sidecar: that combination is refused at the plan (a case below). */
const ALL = [P_FW, P_FW_SC, P_SC, P_PLAIN, D_FW, D];

const IMAGE = 'localhost/hdc-test/base:1';
const CONFIG = { name: 'test', image: IMAGE, remoteUser: 'vscode', postCreateCommand: 'make setup' };

interface Expected { cls: abstract new (...args: never[]) => Error; exitCode: number; message: RegExp[]; notMessage?: RegExp; fix?: RegExp }

interface Case {
  step: UpStep | 'cancel';
  what: string;
  combo: Combo;
  faults?: Faults;
  /** devcontainer.json: an object, or text as written. */
  config?: Record<string, unknown> | string;
  settings?: Partial<Settings>;
  /** A workspace container (and on docker with the firewall, its guard) from an earlier up. */
  preexisting?: Status;
  /** A container of someone else's that holds a name: never touched. */
  foreign?: { name: string; status: Status };
  abortAt?: (r: Recorded) => boolean;
  fate: Fate;
  error: Expected;
  /** The lifecycle commands ran (else: they never did). */
  lifecycleRan?: boolean;
  /** The revocation ran and held before the error. */
  revoked?: boolean;
  /** Nothing ran at all (refused at the plan). */
  noCalls?: boolean;
}

const comboName = (c: Combo): string => `${c.runtime} fw ${c.firewall ? 'on' : 'off'} sidecar ${c.sidecar ? 'on' : 'off'}`;

const SIDECAR_EXITS = ' (the sidecar exits too: a running one needs a real socket)';

const CASES: Case[] = [
  // plan: nothing runs.
  ...ALL.map((combo): Case => ({
    step: 'plan', what: 'devcontainer.json does not parse', combo, config: '{ "image": "x", "remoteUser": }', fate: 'clean', noCalls: true,
    error: { cls: InputError, exitCode: 2, message: [/devcontainer\.json:1:\d+: .*not valid JSON with comments/], fix: /fix the syntax/ } })),
  ...[P_FW, D].map((combo): Case => ({
    step: 'plan', what: 'devcontainer.json asks for "privileged"', combo, config: { ...CONFIG, privileged: true }, fate: 'clean', noCalls: true,
    error: { cls: InputError, exitCode: 2, message: [/"privileged": true gives the workspace every capability/], fix: /remove "privileged"/ } })),
  {
    step: 'plan', what: 'the sidecar on docker', combo: { runtime: 'docker', firewall: true, sidecar: true }, fate: 'clean', noCalls: true,
    error: { cls: InputError, exitCode: 2, message: [/podmanSidecar\.enabled needs the podman runtime/], fix: /set hardenedDevcontainers\.runtime to "podman"/ } },

  // preflight and prepare: nothing is created; podman's early CLI is stopped at the pregate.
  ...ALL.map((combo): Case => ({
    step: 'preflight', what: 'the engine does not answer', combo, faults: { engineInfo: true }, fate: 'clean',
    error: { cls: EnvironmentError, exitCode: 3, message: [new RegExp(`${combo.runtime} is installed \\(/usr/bin/${combo.runtime}\\) but not usable: .*permission denied`)],
      fix: combo.runtime === 'podman' ? /podman info/ : /start the Docker daemon/ } })),
  ...ALL.map((combo): Case => ({
    step: 'prepare', what: 'the image is missing and cannot be pulled', combo, faults: { imageMissing: true }, fate: 'clean',
    error: { cls: InputError, exitCode: 2, message: [/Image "localhost\/hdc-test\/base:1" \(from .*devcontainer\.json\) is not available: .*manifest unknown/], fix: /check the image name/ } })),
  ...ALL.map((combo): Case => ({
    step: 'prepare', what: 'read-configuration fails', combo, faults: { readConfiguration: true }, fate: 'clean',
    // The CLI's words, with the command named, not its raw JSON log line.
    error: { cls: HdcError, exitCode: 1, message: [/read-configuration/, /is missing one of "image", "dockerFile" or "dockerComposeFile"/], notMessage: /"type":"text"/ } })),
  ...ALL.map((combo): Case => ({
    step: 'prepare', what: 'the remote user is not in the image', combo, faults: { userMissing: true }, fate: 'clean',
    error: { cls: InputError, exitCode: 2, message: [/the remote user "vscode" \(remoteUser of the merged configuration\) does not exist in image localhost\/hdc-test\/base:1/], fix: /set "remoteUser"/ } })),

  // container: the CLI fails to create it, or it is created and never starts.
  ...ALL.map((combo): Case => ({
    step: 'container', what: 'the CLI cannot create it (a container of someone else\'s holds the name)', combo, foreign: { name: 'DEFAULT', status: 'exited' }, fate: 'clean',
    error: { cls: EngineRefusedError, exitCode: 1, message: [/^The engine refused: .*the container name "hdc-ws-[0-9a-f]{8}" is already in use/], fix: /fix what it names/ } })),
  ...ALL.map((combo): Case => ({
    step: 'container', what: 'it is created and never starts', combo, faults: { start: true }, fate: 'clean',
    error: combo.runtime === 'podman'
      ? { cls: EngineRefusedError, exitCode: 1, message: [/^Refused: the container would hold SYS_ADMIN$/], fix: /the container was removed/ }
      : { cls: EngineRefusedError, exitCode: 1, message: [/^The engine refused: failed to create task for container/], fix: /fix what it names/ } })),
  ...[P_FW, D_FW].map((combo): Case => ({
    step: 'container', what: 'a stopped container from an earlier up does not start again', combo, faults: { start: true }, preexisting: 'exited', fate: 'clean',
    error: { cls: EngineRefusedError, exitCode: 1, message: [/refused/i] } })),
  // The name in runArgs is taken by a running container that is not this workspace's.
  ...[{}, { weaker: true }].map((faults): Case => ({
    step: 'container', what: `the CLI cannot create it: runArgs name a running container of someone else's${faults.weaker ? ' (a privileged one)' : ''}`, combo: P_FW,
    config: { ...CONFIG, runArgs: ['--name', 'mydev'] }, foreign: { name: 'mydev', status: 'running' }, faults, fate: 'clean',
    error: { cls: EngineRefusedError, exitCode: 1, message: [/^The engine refused: .*the container name "mydev" is already in use/] } })),

  // readback: the container came up weaker; it goes, even one from an earlier up. (podman
  // without the firewall and the sidecar: the hook reads the spec back, see "never starts".)
  ...[P_FW, P_FW_SC, P_SC, D_FW, D].map((combo): Case => ({
    step: 'readback', what: `the first process holds SYS_ADMIN${combo.sidecar ? SIDECAR_EXITS : ''}`, combo,
    faults: { weaker: true, ...(combo.sidecar ? { sidecar: 'exits' as const } : {}) }, fate: 'remove',
    error: { cls: HdcError, exitCode: 1, message: [/^Refused: the container came up weaker than hdc requires: it holds SYS_ADMIN .*; runs without a seccomp filter/, /It was removed before any lifecycle command ran/],
      fix: /something between hdc and the engine added privilege/ } })),
  ...[P_FW, D_FW].map((combo): Case => ({
    step: 'readback', what: 'a running container from an earlier up holds SYS_ADMIN', combo, faults: { weaker: true }, preexisting: 'running', fate: 'remove',
    error: { cls: HdcError, exitCode: 1, message: [/came up weaker than hdc requires/] } })),

  // firewall: not verified; the container is stopped and kept.
  ...[P_FW, P_FW_SC, D_FW].map((combo): Case => ({
    step: 'firewall', what: `the blocked target answers${combo.sidecar ? SIDECAR_EXITS : ''}`, combo,
    faults: { unverified: true, ...(combo.sidecar ? { sidecar: 'exits' as const } : {}) }, fate: 'stop',
    error: { cls: HdcError, exitCode: 1, message: [/^Firewall verification failed: blocked target gateway:9 was not refused: connected/], fix: /the container was stopped/ } })),
  {
    step: 'firewall', what: 'the blocked target answers, in a container from an earlier up', combo: P_FW, faults: { unverified: true }, preexisting: 'exited', fate: 'stop',
    error: { cls: HdcError, exitCode: 1, message: [/^Firewall verification failed/] } },

  // sidecar: it does not come up; it goes with what this up made.
  ...[P_FW_SC, P_SC].map((combo): Case => ({
    step: 'sidecar', what: 'the sidecar exits at once', combo, faults: { sidecar: 'exits' }, fate: 'clean',
    error: { cls: HdcError, exitCode: 1, message: [/^Podman sidecar: The Podman sidecar hdc-ws-[0-9a-f]{8}-podman did not open its socket: it exited/], fix: /podman logs hdc-ws-/ } })),
  {
    step: 'sidecar', what: 'the sidecar image is missing', combo: P_SC, faults: { sidecar: 'no-image' }, fate: 'clean',
    error: { cls: HdcError, exitCode: 2, message: [/^Podman sidecar: The sidecar image localhost\/hardened-devcontainers\/podman:bookworm is not in podman's image store/], fix: /base-image\.sh/ } },

  // lifecycle: the container stays, with sudo revoked first. (With the sidecar on, the
  // lifecycle needs a sidecar that came up: not possible with the fake, see the report.)
  ...[P_FW, P_PLAIN, D_FW, D].map((combo): Case => ({
    step: 'lifecycle', what: 'the postCreateCommand fails', combo, faults: { lifecycle: true }, fate: 'keep', lifecycleRan: true, revoked: true,
    error: { cls: HdcError, exitCode: 1, message: [/^A lifecycle command failed: The postCreateCommand from devcontainer\.json failed: \/bin\/sh -c make setup/,
      new RegExp(`Container hdc-ws-[0-9a-f]{8} is still running${combo.firewall ? ' under the verified firewall' : ' \\(the egress firewall is off\\)'}; sudo is revoked`)],
    // Without the firewall, no "verified firewall" to speak of.
    notMessage: combo.firewall ? undefined : /verified firewall/, fix: /fix the postCreateCommand/ } })),
  {
    step: 'lifecycle', what: 'the postCreateCommand fails, in a running container from an earlier up', combo: D_FW, faults: { lifecycle: true }, preexisting: 'running',
    fate: 'keep', lifecycleRan: true, revoked: true, error: { cls: HdcError, exitCode: 1, message: [/^A lifecycle command failed/, /sudo is revoked/] } },
  {
    step: 'lifecycle', what: 'the postCreateCommand fails, revokeSudo off', combo: P_FW, faults: { lifecycle: true }, settings: { revokeSudo: false },
    fate: 'keep', lifecycleRan: true, error: { cls: HdcError, exitCode: 1, message: [/^A lifecycle command failed/, /sudo was not revoked \(hardenedDevcontainers\.revokeSudo = false\)/] } },

  ...[P_FW, D_FW].map((combo): Case => ({
    step: 'lifecycle', what: 'the postCreateCommand fails and the revocation fails', combo, faults: { lifecycle: true, revokeFails: true }, fate: 'stop', lifecycleRan: true,
    error: { cls: HdcError, exitCode: 1, message: [/^A lifecycle command failed/, /Container hdc-ws-[0-9a-f]{8} was stopped; sudo revocation FAILED: .*cannot lock \/etc\/group/] } })),

  // sudo: the revocation does not hold; the container is stopped and kept.
  ...[P_FW, P_PLAIN, D_FW, D].map((combo): Case => ({
    step: 'sudo', what: 'sudo -n true still succeeds', combo, faults: { sudoHolds: true }, fate: 'stop', lifecycleRan: true,
    error: { cls: HdcError, exitCode: 1, message: [/^Sudo revocation did not hold: as vscode: sudo -n true SUCCEEDED/], fix: /the container was stopped/ } })),

  // cancel (Ctrl-C, or Stop in the editor): what this up made goes.
  ...([
    [P_FW, 'while prepare reads the configuration', (r: Recorded) => r.what === 'cli read-configuration'],
    [P_PLAIN, 'while the CLI creates the container', (r: Recorded) => r.what === 'event created'],
    [P_FW, 'while the firewall is verified', (r: Recorded) => r.what === 'agent'],
    [P_SC, 'while the sidecar starts', (r: Recorded) => r.what === 'engine run' && r.argv.includes('-d')],
    [P_FW, 'while the lifecycle commands run', (r: Recorded) => r.what === 'event lifecycle'],
    [D_FW, 'while the firewall guard starts', (r: Recorded) => r.what === 'engine logs'],
    [D_FW, 'while the CLI creates the container', (r: Recorded) => r.what === 'cli up'],
    [D, 'while the lifecycle commands run', (r: Recorded) => r.what === 'event lifecycle'],
  ] as const).map(([combo, what, abortAt]): Case => ({
    step: 'cancel', what, combo, abortAt, fate: 'clean', lifecycleRan: what.includes('lifecycle'),
    error: { cls: HdcError, exitCode: 130, message: [/was cancelled/] } })),
];

/** One test's files: a workspace with its devcontainer.json, a state root, a runtime dir. */
interface Dirs { tmp: string; ws: string; configFile: string; stateRoot: string }

async function makeDirs(config: Case['config'] = CONFIG): Promise<Dirs> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'hdc-up-'));
  const ws = path.join(tmp, 'ws');
  const configFile = path.join(ws, '.devcontainer', 'devcontainer.json');
  await mkdir(path.dirname(configFile), { recursive: true });
  await writeFile(configFile, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  await mkdir(path.join(tmp, 'run'), { mode: 0o700 });
  // docker: the egress image built before (its id recorded, as hdc egress-image leaves it).
  const stateRoot = path.join(tmp, 'state');
  await mkdir(egressImageDir(stateRoot), { recursive: true });
  await writeFile(path.join(egressImageDir(stateRoot), 'docker.json'), JSON.stringify({ id: FAKE_EGRESS_ID }));
  return { tmp, ws, configFile, stateRoot };
}

function settingsFor(combo: Combo, overrides: Partial<Settings> = {}): Settings {
  return {
    ...DEFAULT_SETTINGS, runtime: combo.runtime,
    firewall: { ...DEFAULT_SETTINGS.firewall, enabled: combo.firewall },
    podmanSidecar: { ...DEFAULT_SETTINGS.podmanSidecar, enabled: combo.sidecar },
    ...overrides };
}

function fakeFor(d: Dirs, runtime: Runtime): FakeEngine {
  const fake = new FakeEngine(runtime, `/usr/bin/${runtime}`, d.ws, d.configFile, IMAGE);
  fake.images.set(DEFAULT_SETTINGS.podmanSidecar.image, { id: `sha256:${'b2'.repeat(32)}`, user: '', passwd: '' });
  return fake;
}

/** The hardening an earlier up gave its container: podman's hook annotation, docker's guard network. */
async function earlierRunArgs(d: Dirs, combo: Combo, name: string): Promise<string[]> {
  if (combo.runtime === 'docker') return combo.firewall ? ['--network', `container:${name}-fw`] : [];
  return ['--annotation', `${ANNOTATIONS.firewall}=${path.join(await workspaceStateDir(d.stateRoot, d.ws), 'firewall')}`];
}

async function runUp(d: Dirs, fake: FakeEngine, combo: Combo, settings: Partial<Settings> = {}): Promise<{ result?: UpResult; error?: unknown; log: string[] }> {
  const log: string[] = [];
  const outcome = await up(
    { workspaceFolder: d.ws, settings: settingsFor(combo, settings), stateRoot: d.stateRoot, signal: fake.controller.signal, log: (l) => log.push(l) },
    { runner: fake.runner, engine: new EngineClient(combo.runtime, `/usr/bin/${combo.runtime}`), host: fake.host },
  ).then((result) => ({ result }), (error: unknown) => ({ error }));
  // Every call the up started has ended (no process left behind).
  await new Promise((r) => setImmediate(r));
  assert.equal(fake.inFlight, 0, 'calls still running after up returned');
  assert.deepEqual(fake.unexpected, [], 'calls the fake has no rule for');
  // podman's per-run protocol files (pregate, gate, events note) are gone.
  const stateDir = await workspaceStateDir(d.stateRoot, d.ws);
  const left = [...await readdir(stateDir), ...await readdir(path.join(stateDir, 'firewall')).catch(() => [])].filter((f) => /^(pregate|gate|events|answers)(-|$)|^up\.lock$/.test(f));
  assert.deepEqual(left, [], 'protocol files left in the state dir');
  return { ...outcome, log };
}

const describeCalls = (fake: FakeEngine): string => fake.calls.map((c) => `${c.seq} ${c.what}${c.target ? ` → ${c.target}` : ''}${c.detail ? ` (${c.detail})` : ''}`).join('\n');

/** What the fate leaves in the engine. */
function assertLeftBehind(fake: FakeEngine, c: Case, pre: { ws?: FakeContainer; guard?: FakeContainer; foreign?: FakeContainer }): void {
  const fate = c.fate;
  const kept = fate === 'stop' || fate === 'keep';
  const wantStatus: Status | undefined = fate === 'stop' ? 'exited' : fate === 'keep' ? 'running' : undefined;
  const made = fake.of('workspace').filter((x) => !x.preexisting);
  if (pre.ws) {
    const now = fake.containers.get(pre.ws.id);
    if (fate === 'remove') assert.equal(now, undefined, 'the weaker container from an earlier up was removed');
    else {
      assert.ok(now, 'the container from an earlier up is still there');
      if (wantStatus) assert.equal(now.status, wantStatus);
    }
    assert.equal(made.length, 0, 'no second workspace container');
  } else if (kept) {
    assert.equal(made.length, 1, `the container stays (${fate})`);
    assert.equal(made[0].status, wantStatus);
  } else {
    assert.deepEqual(made.map((x) => `${x.name} ${x.status}`), [], `no container made by this up survives (${fate})`);
  }
  // The docker guard: what this up made goes unless the container it serves stays.
  for (const g of fake.of('guard')) {
    if (g.preexisting) assert.equal(g.status, 'running', 'a guard from an earlier up stays');
    else assert.ok(kept, `the guard ${g.name} made by this up was removed`);
  }
  if (kept && c.combo.runtime === 'docker' && c.combo.firewall) assert.equal(fake.of('guard').length, 1, 'the kept container keeps its guard');
  // The sidecar goes on every failure; a volume stays only while a kept container uses it.
  assert.deepEqual(fake.of('sidecar').map((x) => x.name), [], 'the sidecar was removed');
  for (const v of fake.volumes) {
    assert.ok([...fake.containers.values()].some((x) => x.mounts.some((m) => m.type === 'volume' && m.name === v)), `volume ${v} made by this up was removed`);
  }
  if (pre.foreign) {
    const now = fake.containers.get(pre.foreign.id);
    assert.ok(now, 'the other container is still there');
    assert.equal(now.status, pre.foreign.initialStatus, 'the other container was not started or stopped');
    assert.equal(now.sudoRevoked, false, 'nothing was run in the other container');
    const touched = fake.calls.filter((r) => r.target === pre.foreign?.name && !/^engine (container inspect|ps)$/.test(r.what));
    assert.deepEqual(touched.map((r) => r.what), [], 'calls that acted on the other container');
  }
}

describe('up with a fake engine', function () {
  this.timeout(10_000);
  let dirs: Dirs | undefined;
  const savedRuntimeDir = process.env.XDG_RUNTIME_DIR;
  afterEach(async () => {
    if (savedRuntimeDir === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = savedRuntimeDir;
    if (dirs) await rm(dirs.tmp, { recursive: true, force: true });
    dirs = undefined;
  });

  /** Creates the files and the engine model of a test. */
  async function setUpCase(config: Case['config'], runtime: Runtime): Promise<{ d: Dirs; fake: FakeEngine }> {
    const d = await makeDirs(config);
    dirs = d;
    // The podman agent looks for podman's pause process in XDG_RUNTIME_DIR: none here.
    process.env.XDG_RUNTIME_DIR = path.join(d.tmp, 'run');
    return { d, fake: fakeFor(d, runtime) };
  }

  describe('a failure at each step', () => {
    for (const c of CASES) {
      it(`${c.step}: ${c.what} [${comboName(c.combo)}] → ${c.fate}`, async () => {
        const { d, fake } = await setUpCase(c.config, c.combo.runtime);
        fake.faults = c.faults ?? {};
        fake.abortAt = c.abortAt;
        // As with the real CLI (≥ 1 s before its `run`), up looks for the container before the CLI fails.
        if (c.foreign) fake.cliWorkMs = 100;
        const name = defaultContainerName(d.ws, d.configFile);
        const pre: { ws?: FakeContainer; guard?: FakeContainer; foreign?: FakeContainer } = {};
        if (c.preexisting) {
          const guarded = c.combo.runtime === 'docker' && c.combo.firewall;
          pre.ws = fake.addContainer({ name, role: 'workspace', status: c.preexisting, runArgs: await earlierRunArgs(d, c.combo, name) });
          if (guarded) pre.guard = fake.addContainer({ name: `${name}-fw`, role: 'guard', status: 'running', labels: { [LABELS.guardFor]: d.ws }, imageId: FAKE_EGRESS_ID });
        }
        if (c.foreign) pre.foreign = fake.addContainer({ name: c.foreign.name === 'DEFAULT' ? name : c.foreign.name, role: 'foreign', status: c.foreign.status, labels: {} });

        const { error, log } = await runUp(d, fake, c.combo, c.settings);
        const calls = describeCalls(fake);
        assert.ok(error, `up should have failed\n${calls}`);
        const e = error as HdcError;
        const where = `\n--- error: ${e.message}\n--- fix: ${e.fix}\n--- calls:\n${calls}\n--- log:\n${log.join('\n')}`;
        assert.ok(e instanceof c.error.cls, `error class ${e.constructor.name}, expected ${c.error.cls.name}${where}`);
        assert.equal(e.exitCode, c.error.exitCode, `exit code${where}`);
        for (const m of c.error.message) assert.match(e.message, m, `message${where}`);
        if (c.error.notMessage) assert.doesNotMatch(e.message, c.error.notMessage, `message${where}`);
        if (c.error.fix) assert.match(e.fix ?? '', c.error.fix, `fix${where}`);

        if (c.noCalls) assert.deepEqual(fake.calls, [], 'nothing ran');
        try {
          assertLeftBehind(fake, c, pre);
        } catch (x) {
          (x as Error).message += where;
          throw x;
        }
        const lifecycle = fake.indexOf((r) => r.what === 'event lifecycle');
        assert.equal(lifecycle >= 0, !!c.lifecycleRan, `the lifecycle commands ${c.lifecycleRan ? 'ran' : 'never ran'}${where}`);
        const revoked = fake.indexOf((r) => r.what === 'event revoked');
        if (c.revoked) {
          assert.ok(revoked > lifecycle, `sudo was revoked after the lifecycle commands and before the error${where}`);
          const ws = fake.of('workspace')[0];
          assert.equal(ws?.sudoRevoked, true, 'the kept container has no sudo');
        } else if (c.step !== 'sudo') {
          assert.equal(revoked, -1, `no revocation ran${where}`);
        }
      });
    }
  });

  describe('success', () => {
    const cases: { combo: Combo; what: string; steps: UpStep[]; config?: Record<string, unknown>; faults?: Faults; preexisting?: Status }[] = [
      { combo: P_FW, what: 'podman, gated (firewall)', steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'lifecycle', 'sudo'] },
      { combo: P_PLAIN, what: 'podman, plain', steps: ['plan', 'preflight', 'prepare', 'container', 'sudo'] },
      { combo: D_FW, what: 'docker with the firewall', steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'lifecycle', 'sudo'] },
      { combo: D, what: 'docker without the firewall', steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'lifecycle', 'sudo'] },
      { combo: D_FW, what: 'docker with the firewall, a running container and guard from an earlier up', steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'lifecycle', 'sudo'], preexisting: 'running' },
      { combo: P_FW, what: 'podman gated: not verified right after the start, verified half a second later (the agent runs twice)', faults: { unverifiedOnce: true },
        steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'lifecycle', 'sudo'] },
      { combo: P_FW, what: 'podman gated: a failed postCreateCommand of a config that asked for NET_ADMIN is tolerated', config: { ...CONFIG, capAdd: ['NET_ADMIN'] }, faults: { lifecycle: true },
        steps: ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'lifecycle', 'sudo'] },
    ];

    for (const c of cases) {
      it(`${c.what} [${comboName(c.combo)}]`, async () => {
        const { d, fake } = await setUpCase(c.config, c.combo.runtime);
        fake.faults = c.faults ?? {};
        const name = defaultContainerName(d.ws, d.configFile);
        const pre = c.preexisting ? fake.addContainer({ name, role: 'workspace', status: c.preexisting, runArgs: await earlierRunArgs(d, c.combo, name) }) : undefined;
        if (pre && c.combo.firewall) fake.addContainer({ name: `${name}-fw`, role: 'guard', status: 'running', labels: { [LABELS.guardFor]: d.ws }, imageId: FAKE_EGRESS_ID });

        const { result, error, log } = await runUp(d, fake, c.combo);
        const calls = describeCalls(fake);
        const where = `\n--- calls:\n${calls}\n--- log:\n${log.join('\n')}`;
        assert.equal(error, undefined, `up failed: ${(error as Error | undefined)?.message}${where}`);
        assert.ok(result);

        // The container: the one the CLI made (or the earlier one), running, without sudo.
        const ws = fake.of('workspace');
        assert.equal(ws.length, 1, where);
        assert.equal(ws[0].status, 'running');
        assert.equal(ws[0].sudoRevoked, true);
        if (pre) assert.equal(ws[0].id, pre.id);
        // podman gated with a tolerated failure reports the container by the name it waited for.
        assert.ok(result.containerId === ws[0].id || result.containerId === ws[0].name, `containerId ${result.containerId}`);
        if (!c.faults) assert.equal(result.containerId, ws[0].id);
        if (c.faults?.unverifiedOnce) assert.equal(fake.calls.filter((r) => r.what === 'agent').length, 2, where);
        assert.deepEqual(result.remoteUserIds, { user: 'vscode', uid: 1000, gid: 1000, source: 'image' });
        assert.equal(result.remoteWorkspaceFolder, '/workspaces/ws');
        if (c.combo.runtime === 'podman' && !pre) assert.equal(ws[0].pregate, 'open 1000 1000', 'the shim let the CLI go with the remote user\'s ids');
        assert.equal(result.sudo?.ok, true);

        // A timing for each step that ran, and only those.
        assert.deepEqual([...new Set(result.steps.map((s) => s.step))].sort(), [...c.steps].sort(), where);
        for (const s of result.steps) assert.ok(Number.isInteger(s.ms) && s.ms >= 0);

        // Order: the firewall verified, then the lifecycle commands, then sudo revoked.
        const agent = fake.indexOf((r) => r.what === 'agent');
        const lifecycle = fake.indexOf((r) => r.what === 'event lifecycle');
        const revoked = fake.indexOf((r) => r.what === 'event revoked');
        assert.ok(lifecycle >= 0 && revoked > lifecycle, `lifecycle, then revocation${where}`);
        if (c.combo.firewall) {
          assert.ok(agent >= 0 && agent < lifecycle, `the firewall was verified before the lifecycle commands${where}`);
          assert.ok(result.firewall, 'the agent result is reported');
        } else {
          assert.equal(agent, -1);
          assert.ok(result.notes.some((n) => /egress firewall is turned off/.test(n)));
        }
        if (c.combo.runtime === 'podman' && c.combo.firewall) {
          const gate = fake.calls.find((r) => r.what === 'event gate');
          assert.equal(gate?.detail, 'open');
          assert.ok(gate.seq > agent && gate.seq < lifecycle, `the gate opened after the verification${where}`);
        }
        if (c.combo.runtime === 'docker') {
          const cliUp = fake.indexOf((r) => r.what === 'cli up');
          const userCommands = fake.indexOf((r) => r.what === 'cli run-user-commands');
          assert.ok(fake.calls[cliUp].argv.includes('--skip-post-create'));
          assert.ok(cliUp < userCommands && userCommands < lifecycle, where);
          if (c.combo.firewall) {
            assert.ok(agent > cliUp && agent < userCommands, where);
            assert.deepEqual(fake.of('guard').map((g) => g.status), ['running']);
          }
        }
        if (c.faults?.lifecycle) assert.ok(result.notes.some((n) => /postCreateCommand from devcontainer\.json failed/.test(n)), 'the tolerated failure is a warning');
      });
    }
  });

  it('one up of a workspace at a time: a second is refused before it starts anything; a stale lock (its process gone) is taken over', async () => {
    const { d, fake } = await setUpCase(CONFIG, 'podman');
    const lockFile = path.join(await workspaceStateDir(d.stateRoot, d.ws), 'up.lock');
    const held = await takeLock(lockFile);
    assert.ok('release' in held);
    const error = await up({ workspaceFolder: d.ws, settings: settingsFor(P_FW), stateRoot: d.stateRoot, log: () => undefined },
      { runner: fake.runner, engine: new EngineClient('podman', '/usr/bin/podman'), host: fake.host }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HdcError && /^Another up of .* is running \(pid \d+\); this one made nothing\.$/.test(error.message), String(error));
    assert.equal((error as HdcError).exitCode, 2);
    assert.deepEqual(fake.calls.filter((c) => /^cli |create|^run/.test(c.what)).map((c) => c.what), [], 'no CLI and no container');
    assert.deepEqual(await takeLock(lockFile), { heldBy: process.pid }, 'the refused up left the lock as it was');
    await held.release();
    await writeFile(lockFile, '999999999 1\n');
    const ok = await runUp(d, fake, P_FW);
    assert.ok(ok.result, String(ok.error));
    await assert.rejects(readFile(lockFile), /ENOENT/, 'the lock goes with the up');
  });

  describe('firewall presets', () => {
    const withPresets = (presets: Settings['firewall']['presets']): Partial<Settings> => ({ firewall: { ...DEFAULT_SETTINGS.firewall, presets } });
    const aptReads = (fake: FakeEngine): Recorded[] => fake.calls.filter((r) => r.what === 'engine run' && r.argv[2] === '--rm' && r.argv.includes('/bin/sh'));

    for (const combo of [P_FW, D_FW]) {
      it(`apt: the image's sources are read once it is there, join the policy the start loads, and are cached per image [${comboName(combo)}]`, async () => {
        const { d, fake } = await setUpCase(undefined, combo.runtime);
        const { result, error, log } = await runUp(d, fake, combo, withPresets(['github', 'apt']));
        assert.equal(error, undefined, `up failed: ${(error as Error | undefined)?.message}\n${describeCalls(fake)}\n${log.join('\n')}`);
        assert.ok(result);
        assert.deepEqual(result.presets?.map((p) => [p.name, p.hosts.length]), [['github', 4], ['apt', 1]]);
        const summary = summarizeUp(result).firewall;
        assert.deepEqual(summary.enabled && summary.presets, { github: 4, apt: 1 }, 'hdc up says which presets were on and what each gave');
        const stateDir = await workspaceStateDir(d.stateRoot, d.ws);
        const { policy } = JSON.parse(await readFile(path.join(stateDir, 'firewall', 'policy.json'), 'utf8')) as { policy: { domains: string[] } };
        assert.ok(policy.domains.includes('deb.example.net') && policy.domains.includes('github.com'), policy.domains.join(' '));
        const reads = aptReads(fake);
        assert.equal(reads.length, 1, reads.map((r) => r.argv.join(' ')).join('\n'));
        // Read after the image is known (inspected), before the container starts, with no network.
        assert.ok(reads[0].seq > fake.indexOf((r) => r.what === 'engine image inspect'));
        assert.ok(reads[0].seq < fake.indexOf((r) => r.what === 'event created'));
        assert.deepEqual(reads[0].argv.slice(1, 6), ['run', '--rm', '--network', 'none', '--entrypoint']);
        const cached = JSON.parse(await readFile(path.join(stateDir, 'apt-sources.json'), 'utf8')) as { imageId: string };
        assert.equal(cached.imageId, fake.images.get(IMAGE)?.id);
      });
    }

    it('apt with a Dockerfile build: refused at the plan, before anything runs', async () => {
      const { d, fake } = await setUpCase({ name: 'built', build: { dockerfile: 'Dockerfile' } }, 'podman');
      const { error } = await runUp(d, fake, P_FW, withPresets(['apt']));
      assert.ok(error instanceof InputError && /builds its image from a Dockerfile/.test(error.message), String(error));
      assert.deepEqual(fake.calls, [], 'nothing ran');
    });

    it('a registry preset that finds no registry is refused at the plan, before anything runs', async () => {
      const { d, fake } = await setUpCase(undefined, 'podman');
      // cargo's configuration of this machine stays out of it: an empty CARGO_HOME.
      const saved = process.env.CARGO_HOME;
      process.env.CARGO_HOME = path.join(d.tmp, 'cargo-home');
      const { error } = await runUp(d, fake, P_FW, withPresets(['crates'])).finally(() => {
        if (saved === undefined) delete process.env.CARGO_HOME;
        else process.env.CARGO_HOME = saved;
      });
      assert.ok(error instanceof InputError && /crates preset found no registry/.test(error.message), String(error));
      assert.deepEqual(fake.calls, [], 'nothing ran');
    });
  });
});
