import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CiliumNetworkPolicy } from '@kubernetes-models/cilium/cilium.io/v2/CiliumNetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parseDevcontainerConfig } from '../../src/config/devcontainerConfig';
import { chownTree, containersOf, destroyWorkspace, engine, hdc, REPO, upJson, workspaceOwner, type Runtime } from '../support/testbed';

/**
 * Real public devcontainer.json files (test/corpus, each with its SOURCE.md), adapted only as
 * far as the offline machine requires: each comes up hardened with `hdc status` green, or is
 * refused, before any container exists, with a message naming what it asked for.
 */
export interface CorpusEntry {
  name: string;
  source: { repo: string; path: string; commit: string | null };
  kind: string;
  expect: 'up' | { refused: string };
  remoteUser: string;
  uid: number;
  engines: Runtime[];
}

export const CORPUS = path.join(REPO, 'test', 'corpus');
export const MANIFEST = JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as CorpusEntry[];

/** The stand-ins for registry images (a devcontainer.metadata label each), built once per engine. */
export async function buildStandInImages(runtime: Runtime): Promise<void> {
  const order = readFileSync(path.join(CORPUS, '_images', 'ORDER'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (const name of order) {
    const r = await engine(runtime, ['build', '-q', '-t', `localhost/hdc-corpus/${name}:latest`, path.join(CORPUS, '_images', name)], 300_000);
    assert.equal(r.exitCode, 0, `building the stand-in ${name}: ${r.stderr}`);
  }
}

/** A private copy of a corpus entry, named as the entry (container names follow), owned for the engine. */
function corpusWorkspace(runtime: Runtime, name: string): string {
  const parent = mkdtempSync(path.join('/tmp', `hdc-corpus-${runtime}-`));
  const ws = path.join(parent, name);
  cpSync(path.join(CORPUS, name), ws, { recursive: true });
  rmSync(path.join(ws, 'SOURCE.md'), { force: true });
  // Network safety: no allowlisted name, so nothing is looked up off the machine.
  mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  writeFileSync(path.join(ws, '.vscode', 'settings.json'), `${JSON.stringify({ 'hardenedDevcontainers.firewall.allowedDomains': [], 'hardenedDevcontainers.firewall.presets': [] })}\n`);
  chownTree(parent, workspaceOwner(runtime), workspaceOwner(runtime));
  return ws;
}

/** Everything the entry made: its containers (and guard), the volumes they used, the CLI's built images. */
async function destroyCorpusWorkspace(runtime: Runtime, ws: string): Promise<void> {
  const volumes: string[] = [];
  for (const id of await containersOf(runtime, ws)) {
    const r = await engine(runtime, ['container', 'inspect', '--format', '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', id]);
    volumes.push(...r.stdout.trim().split(/\s+/).filter(Boolean));
  }
  await destroyWorkspace(runtime, ws);
  if (volumes.length) await engine(runtime, ['volume', 'rm', ...volumes]);
  const images = await engine(runtime, ['images', '-q', '--filter', `reference=${runtime === 'podman' ? '*' : ''}vsc-${path.basename(ws).toLowerCase()}-*`]);
  const ids = [...new Set(images.stdout.split('\n').filter(Boolean))];
  if (ids.length) await engine(runtime, ['rmi', '-f', ...ids]);
  rmSync(path.dirname(ws), { recursive: true, force: true });
}

export function corpusSuite(runtime: Runtime): void {
  const entries = MANIFEST.filter((e) => e.engines.includes(runtime));
  describe(`real devcontainer.json files (${runtime}): ${entries.length} of the corpus`, () => {
    // trailofbits' initializeCommand creates ~/.gitconfig on the host when it is missing.
    const gitconfig = runtime === 'podman' ? '/home/hdctest/.gitconfig' : '/root/.gitconfig';
    const hadGitconfig = existsSync(gitconfig);
    before(async function () {
      this.timeout(900_000);
      await buildStandInImages(runtime);
    });
    after(() => { if (!hadGitconfig) rmSync(gitconfig, { force: true }); });

    for (const entry of entries) {
      const expect = entry.expect;
      const title = expect === 'up'
        ? `${entry.name} (${entry.source.repo}, ${entry.kind}) comes up hardened as ${entry.remoteUser} (uid ${entry.uid}), status green`
        : `${entry.name} (${entry.source.repo}, ${entry.kind}) is refused, naming "${expect.refused}", before a container exists`;
      it(title, async function () {
        this.timeout(600_000);
        const ws = corpusWorkspace(runtime, entry.name);
        try {
          const r = await hdc(runtime, ['up', ws, '--json'], { timeoutMs: 540_000 });
          if (expect !== 'up') {
            assert.notEqual(r.exitCode, 0, `came up:\n${r.stdout}`);
            const message = r.stderr.slice(r.stderr.lastIndexOf('hdc: '));
            assert.ok(message.toLowerCase().includes(expect.refused.toLowerCase()), `the refusal does not name "${expect.refused}":\n${r.stderr}`);
            assert.match(message, /Fix: /, 'the refusal names a fix');
            assert.deepEqual(await containersOf(runtime, ws), [], 'a container was left behind');
            if (runtime === 'podman') await kubeRefuses(ws, entry, expect.refused);
            return;
          }
          assert.equal(r.exitCode, 0, r.stderr);
          const up = upJson(r) as ReturnType<typeof upJson> & { withheld: string[]; remoteUserIds: { uid: number } };
          assert.equal(up.remoteUser, entry.remoteUser);
          assert.equal(up.remoteUserIds.uid, entry.uid, 'hdc read the remote user\'s uid from the (built) image');
          const status = await hdc(runtime, ['status', ws, '--json']);
          const report = JSON.parse(status.stdout) as { ok: boolean; checks: { name: string; ok: boolean; evidence: string }[] };
          assert.ok(report.ok, `status is not green: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
          assert.equal(status.exitCode, 0);
          const id = await hdc(runtime, ['exec', ws, '--', 'id', '-u'], { timeoutMs: 60_000 });
          assert.equal(id.stdout.trim(), String(entry.uid), id.stderr);
          // The workspace is writable by the remote user, and what it writes belongs to the
          // host's owner of the folder (podman's keep-id:uid=,gid=).
          const touch = await hdc(runtime, ['exec', ws, '--', 'sh', '-c', 'echo hi > hdc-corpus-written'], { timeoutMs: 60_000 });
          assert.equal(touch.exitCode, 0, `the workspace is not writable: ${touch.stderr}`);
          const written = (await containersOf(runtime, ws)).length > 0 && findWritten(ws);
          assert.ok(written, 'the file written inside is not in the workspace on the host');
          assert.equal(statSync(written).uid, workspaceOwner(runtime));
          // The editor's part of the CLI's merged configuration (what the attached window
          // gets): every extension that devcontainer.json names is there, features' added.
          const declared = declaredExtensions(ws);
          const editor = (up as unknown as { editor: { extensions: string[] } }).editor;
          for (const ext of declared) assert.ok(editor.extensions.includes(ext), `up --json's editor.extensions lacks ${ext}: ${JSON.stringify(editor)}`);
          if (up.withheld.length) {
            assert.ok(up.warnings.some((w) => /was withheld: the workspace never holds it; hdc's egress firewall is in force instead/.test(w)), up.warnings.join('\n'));
          }
          if (runtime === 'podman') await kubeGenerates(ws, entry);
        } finally {
          await destroyCorpusWorkspace(runtime, ws);
        }
      });
    }
  });
}

/** Whether the entry's devcontainer.json builds its image (a Dockerfile, or features on an image). */
function builds(ws: string): boolean {
  const file = [path.join(ws, '.devcontainer', 'devcontainer.json'), path.join(ws, '.devcontainer.json')].find((f) => existsSync(f));
  if (!file) return false;
  const config = parseDevcontainerConfig(readFileSync(file, 'utf8'), file) as { build?: unknown; dockerFile?: unknown; features?: Record<string, unknown> };
  return config.build !== undefined || config.dockerFile !== undefined || Object.keys(config.features ?? {}).length > 0;
}

const KUBE_MODELS = { ConfigMap, PersistentVolumeClaim, Pod, CiliumNetworkPolicy } as Record<string, new (d: unknown) => { validate(): void }>;

/**
 * `hdc kube` of an entry that came up (issue 16, real inputs): the cluster manifests (with
 * Cilium's policy) are written, every object validates against the schema after the YAML
 * round trip, and the workspace container runs as the entry's remote user with no way up.
 * A build's image is the one `up` built (a cluster would pull it by that name).
 */
async function kubeGenerates(ws: string, entry: CorpusEntry): Promise<void> {
  const out = path.join(path.dirname(ws), 'kube.yaml');
  const image = builds(ws) ? (await engine('podman', ['container', 'inspect', '--format', '{{.ImageName}}', (await containersOf('podman', ws))[0]])).stdout.trim() : undefined;
  const r = await hdc('podman', ['kube', ws, '--target', 'cluster', '--cilium', '--egress-image', 'localhost/hdc-corpus/egress:1', '--out', out, ...(image ? ['--image', image] : [])]);
  assert.equal(r.exitCode, 0, `hdc kube: ${r.stderr}`);
  const docs = parseAllDocuments(readFileSync(out, 'utf8')).map((d) => d.toJS() as { kind: string; spec: { containers: { name: string; securityContext: Record<string, unknown> }[] } });
  for (const d of docs) new KUBE_MODELS[d.kind](d).validate();
  const pod = docs.find((d) => d.kind === 'Pod');
  const workspace = pod?.spec.containers.find((c) => c.name === 'workspace');
  assert.ok(workspace, `no workspace container: ${docs.map((d) => d.kind).join(', ')}`);
  assert.equal(workspace.securityContext.runAsUser, entry.uid);
  assert.equal(workspace.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(workspace.securityContext.capabilities, { drop: ['ALL'] });
  assert.ok(docs.some((d) => d.kind === 'CiliumNetworkPolicy'), 'no Cilium policy');
}

/** `hdc kube` of an entry that `up` refuses: refused too, before anything is written (an image entry: for the same reason). */
async function kubeRefuses(ws: string, entry: CorpusEntry, refused: string): Promise<void> {
  const out = path.join(path.dirname(ws), 'kube.yaml');
  const r = await hdc('podman', ['kube', ws, '--target', 'cluster', '--egress-image', 'localhost/hdc-corpus/egress:1', '--out', out]);
  assert.notEqual(r.exitCode, 0, `hdc kube wrote manifests for an entry that up refuses:\n${r.stderr}`);
  assert.match(r.stderr, /Fix: /, 'the refusal names a fix');
  assert.equal(existsSync(out), false, 'a manifest was written');
  if (entry.kind === 'image') assert.ok(r.stderr.toLowerCase().includes(refused.toLowerCase()), `hdc kube's refusal does not name "${refused}":\n${r.stderr}`);
}

/** customizations.vscode.extensions of the workspace's devcontainer.json, as written. */
function declaredExtensions(ws: string): string[] {
  const file = [path.join(ws, '.devcontainer', 'devcontainer.json'), path.join(ws, '.devcontainer.json')].find((f) => existsSync(f));
  if (!file) return [];
  const config = parseDevcontainerConfig(readFileSync(file, 'utf8'), file) as { customizations?: { vscode?: { extensions?: unknown } } };
  const list = config.customizations?.vscode?.extensions;
  return Array.isArray(list) ? list.filter((e): e is string => typeof e === 'string') : [];
}

/** The file written inside: at the workspace root, or under the folder the config mounts. */
function findWritten(ws: string): string | false {
  const file = path.join(ws, 'hdc-corpus-written');
  return existsSync(file) ? file : false;
}
