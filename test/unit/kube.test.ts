import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Pod } from 'kubernetes-models/v1/Pod';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { CiliumNetworkPolicy } from '@kubernetes-models/cilium/cilium.io/v2/CiliumNetworkPolicy';
import { InputError } from '../../src/base/errors';
import { checkKubeSidecar, checkKubeWorkspaceTarget } from '../../src/ops/kube';
import { DEFAULT_SETTINGS } from '../../src/config/settings';
import { lifecycleSteps, unmappedLifecycle } from '../../src/kube/lifecycle';
import { kubeName, kubeObjects, kubeYaml, lifecycleArgs, memoryQuantity, type KubeSpec } from '../../src/kube/manifests';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const LIFECYCLE = path.join(REPO, 'src', 'kube', 'lifecycle.sh');

const policy = { domains: ['allowed.test', '*.wild.test'], denied: ['no.wild.test'], cidrs4: ['10.1.2.0/24'], cidrs6: [] };
const spec = (over: Partial<KubeSpec> = {}): KubeSpec => ({
  name: 'app', target: 'cluster', image: 'registry.example/app:1', user: { user: 'vscode', uid: 1000, gid: 1000 },
  workspaceFolder: '/workspaces/app', workingDir: '/workspaces/app', source: { claimSize: '10Gi' },
  protectedPaths: ['.devcontainer', '.vscode', '.git/hooks'], env: { A: 'b' },
  lifecycle: [{ stage: 'postCreate', argv: ['/bin/sh', '-c', 'make'] }, { stage: 'postStart', argv: ['echo', 'hi'] }],
  limits: { cpus: '2', memory: '4g' }, resourceLimits: true,
  firewall: { policy, dnsServers: [], egressImage: 'registry.example/hdc-egress:1', guardScript: '#!/bin/sh\n' },
  lifecycleScript: '#!/bin/sh\n', cilium: false, ...over,
});

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, unknown>; data?: Record<string, string> };
const docsOf = (s: KubeSpec): Doc[] => parseAllDocuments(kubeYaml(kubeObjects(s))).map((d) => d.toJSON() as Doc);
const podOf = (s: KubeSpec): Pod => new Pod(docsOf(s).find((d) => d.kind === 'Pod') as unknown as Pod);

describe('hdc kube: lifecycle commands as argv', () => {
  it('takes the merged configuration\'s lists in the CLI\'s order; strings run in /bin/sh -c, arrays as they are, objects one by one', () => {
    const merged = {
      onCreateCommands: ['echo one', ['touch', 'a b']],
      postCreateCommands: [{ first: 'npm ci', second: ['make', 'all'] }],
      postStartCommands: ['echo "$HOME"'],
      postAttachCommands: ['ignored'],
    };
    assert.deepEqual(lifecycleSteps(merged, 'f'), [
      { stage: 'onCreate', argv: ['/bin/sh', '-c', 'echo one'] },
      { stage: 'onCreate', argv: ['touch', 'a b'] },
      { stage: 'postCreate', name: 'first', argv: ['/bin/sh', '-c', 'npm ci'] },
      { stage: 'postCreate', name: 'second', argv: ['make', 'all'] },
      { stage: 'postStart', argv: ['/bin/sh', '-c', 'echo "$HOME"'] },
    ]);
    assert.deepEqual(lifecycleSteps({ postCreateCommand: 'x' }, 'f'), [{ stage: 'postCreate', argv: ['/bin/sh', '-c', 'x'] }]);
    assert.throws(() => lifecycleSteps({ postCreateCommands: [42] }, 'f.json'), (e: unknown) => e instanceof InputError && /f\.json: postCreateCommand is neither/.test(e.message));
    assert.deepEqual(unmappedLifecycle(merged, { initializeCommand: 'x' }).length, 2);
  });

  it('lifecycle.sh runs each record\'s words exactly, never through a shell, and stops at the first failure', () => {
    const hostile = ['$(touch /tmp/hdc-kube-pwned)', '; echo no', '"quoted" \'x\'', '', '--', 'a\nb'];
    const args = lifecycleArgs([
      { stage: 'onCreate', argv: ['printf', '[%s]\\n', ...hostile] },
      { stage: 'postCreate', argv: ['printf', '[%s]\\n', 'second'] },
    ]);
    const out = execFileSync('/bin/sh', [LIFECYCLE, '-', 'exit', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out, `${hostile.map((w) => `[${w}]`).join('\n')}\n[second]\n`);
    const failed = spawnSync('/bin/sh', [LIFECYCLE, '-', 'exit', ...lifecycleArgs([{ stage: 'postCreate', argv: ['false'] }, { stage: 'postStart', argv: ['echo', 'never'] }])], { encoding: 'utf8' });
    assert.equal(failed.status, 1);
    assert.equal(failed.stdout, '');
    assert.match(failed.stderr, /the postCreate command failed \(exit 1\)/);
  });

  it('lifecycle.sh waits for a ready mark that names its own network namespace, and for the resolver listening in it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hdc-kube-ready-'));
    try {
      const mark = path.join(dir, 'ready');
      const args = [LIFECYCLE, mark, 'exit', ...lifecycleArgs([{ stage: 'postCreate', argv: ['echo', 'ran'] }])];
      // In a network namespace of its own (a user namespace too: no root needed), as a pod's.
      const inNetns = (setup: string, timeout: number) => spawnSync('unshare', ['-rn', '/bin/sh', '-c',
        `ip link set lo up 2>/dev/null; ${setup}; exec /bin/sh "$@"`, 'sh', ...args], { encoding: 'utf8', timeout });
      // A stand-in resolver: bound to 127.0.0.1:53, gone after 8 s, holding none of the script's pipes.
      const listen = `"${process.execPath}" -e 'require("dgram").createSocket("udp4").bind(53, "127.0.0.1", () => require("fs").writeFileSync(process.argv[1], "")); setTimeout(process.exit, 8000)' "${dir}/listening" </dev/null >/dev/null 2>&1 &
        while [ ! -e "${dir}/listening" ]; do sleep 0.05; done`;
      const ownMark = `readlink /proc/self/ns/net >"${mark}"`;
      const stale = inNetns(`echo 'net:[1]' >"${mark}"; ${listen}`, 1500);
      assert.equal(stale.stdout, '', `nothing runs on a mark of another namespace: ${stale.stderr}`);
      rmSync(`${dir}/listening`, { force: true });
      const noResolver = inNetns(ownMark, 1500);
      assert.equal(noResolver.stdout, '', `nothing runs on its own namespace's mark with no resolver listening (a reused inode, or the workspace started alone): ${noResolver.stderr}`);
      const ready = inNetns(`${ownMark}; ${listen}`, 10_000);
      assert.equal(ready.stdout, 'ran\n', ready.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hdc kube: manifests', () => {
  it('names and quantities: DNS-1123 names from folder names, the engine\'s sizes as Kubernetes quantities', () => {
    assert.equal(kubeName('My_Project.v2'), 'my-project-v2');
    assert.equal(kubeName('---'), 'workspace');
    assert.equal(kubeName('a'.repeat(80)).length, 40);
    assert.deepEqual(['4g', '512m', '100k', '1024', '10b', ''].map(memoryQuantity), ['4Gi', '512Mi', '100Ki', '1024', '10', '']);
  });

  it('cluster: every object validates against the Kubernetes (and Cilium) schema after the YAML round trip', () => {
    const docs = docsOf(spec());
    assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.name}`),
      ['ConfigMap app-hdc-firewall', 'ConfigMap app-hdc-lifecycle', 'PersistentVolumeClaim app-workspace', 'Pod app', 'NetworkPolicy app-egress']);
    const withCilium = docsOf(spec({ cilium: true }));
    assert.deepEqual(withCilium.slice(-1).map((d) => `${d.kind} ${d.metadata.name}`), ['CiliumNetworkPolicy app-fqdn']);
    assert.equal(withCilium.some((d) => d.kind === 'NetworkPolicy'), false, 'policies add up: a NetworkPolicy beside it would open what Cilium\'s names close');
    const models = { ConfigMap, PersistentVolumeClaim, Pod, NetworkPolicy, CiliumNetworkPolicy } as Record<string, new (d: unknown) => { validate(): void }>;
    for (const d of [...docs, ...withCilium]) new models[d.kind](d).validate();
  });

  it('the validation fires: a field of the wrong type is refused before anything is written', () => {
    const objects = kubeObjects(spec());
    const pod = objects.find((o) => o.kind === 'Pod') as Pod;
    (pod.spec!.containers[0] as unknown as { securityContext: { runAsUser: string } }).securityContext.runAsUser = 'root';
    assert.throws(() => kubeYaml(objects), /runAsUser|must be integer/);
  });

  it('cluster: the egress container is a native sidecar started first, the lifecycle an init step after it, postStart a hook', () => {
    const pod = podOf(spec());
    const init = pod.spec!.initContainers!;
    assert.deepEqual(init.map((c) => c.name), ['hdc-egress', 'hdc-lifecycle']);
    assert.equal(init[0].restartPolicy, 'Always');
    assert.deepEqual(init[0].startupProbe?.exec?.command, ['/bin/sh', '-c', 'test "$(cat /tmp/hdc-guard-ready)" = "$(readlink /proc/self/ns/net)"']);
    assert.equal(pod.metadata?.annotations, undefined);
    assert.deepEqual(init[0].securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'] });
    assert.deepEqual(init[1].command, ['/bin/sh', '/hdc-lifecycle/lifecycle.sh', '-', 'exit', 'postCreate', '3', '/bin/sh', '-c', 'make']);
    const dollar = podOf(spec({ lifecycle: [{ stage: 'postCreate', argv: ['/bin/sh', '-c', 'echo $(HOME) $$ $X'] }] })).spec!.initContainers![1].command!;
    assert.equal(dollar.at(-1), 'echo $$(HOME) $$$$ $$X', 'the kubelet reads $(VAR) and $$ in a command: each $ doubled');
    const ws = pod.spec!.containers.find((c) => c.name === 'workspace')!;
    assert.deepEqual(ws.lifecycle?.postStart?.exec?.command, ['/bin/sh', '/hdc-lifecycle/lifecycle.sh', '-', 'exit', 'postStart', '2', 'echo', 'hi']);
    assert.deepEqual(pod.spec!.containers.map((c) => c.name), ['workspace']);
  });

  it('the workspace holds nothing: non-root, no escalation, every capability dropped, no API token; the config read-only over the claim', () => {
    const pod = podOf(spec());
    const ws = pod.spec!.containers[0];
    assert.deepEqual(ws.securityContext, { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    assert.equal(pod.spec!.automountServiceAccountToken, false);
    assert.equal(pod.spec!.shareProcessNamespace, false);
    assert.deepEqual(pod.spec!.securityContext, { seccompProfile: { type: 'RuntimeDefault' }, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '1024' }] });
    assert.deepEqual(ws.volumeMounts!.filter((m) => m.readOnly && m.name === 'workspace-source').map((m) => [m.mountPath, m.subPath]),
      [['/workspaces/app/.devcontainer', '.devcontainer'], ['/workspaces/app/.vscode', '.vscode'], ['/workspaces/app/.git/hooks', '.git/hooks']]);
    assert.deepEqual(ws.resources, { limits: { cpu: '2', memory: '4Gi' } });
    assert.deepEqual(ws.env, [{ name: 'A', value: 'b' }]);
  });

  it('podman: the rules in an init container, the resolver beside the workspace, which runs the lifecycle once it is ready', () => {
    const pod = podOf(spec({ target: 'podman', source: { hostPath: '/home/u/app' }, protectedHostPaths: ['/home/u/app/.devcontainer', '/home/u/app/.vscode'],
      firewall: { ...spec().firewall!, hostNode: { node: '/usr/bin/node', dist: '/opt/hdc/dist' }, dnsServers: ['10.0.0.53'] } }));
    assert.deepEqual(pod.spec!.initContainers!.map((c) => [c.name, c.command!.slice(-1)[0]]), [['hdc-egress-rules', 'rules']]);
    assert.deepEqual(pod.spec!.containers.map((c) => c.name), ['hdc-egress', 'workspace']);
    assert.equal(pod.spec!.restartPolicy, 'OnFailure');
    assert.deepEqual(pod.metadata?.annotations, { 'io.podman.annotations.init.container.type': 'always' }, 'the rules\' init container runs on every start of the pod');
    assert.deepEqual(pod.spec!.containers[1].command!.slice(0, 6), ['/bin/sh', '/hdc-lifecycle/lifecycle.sh', '/hdc-ready/ready', 'sleep', 'postCreate', '3']);
    assert.equal(pod.spec!.containers[1].lifecycle, undefined, 'podman has no postStart hook: the script runs it');
    assert.deepEqual([pod.spec!.dnsPolicy, pod.spec!.dnsConfig], ['None', { nameservers: ['10.0.0.53'] }]);
    assert.deepEqual(pod.spec!.volumes!.filter((v) => v.hostPath).map((v) => v.hostPath!.path), ['/home/u/app', '/home/u/app/.devcontainer', '/home/u/app/.vscode', '/usr/bin/node', '/opt/hdc/dist']);
    const kinds = docsOf(spec({ target: 'podman', source: { hostPath: '/h' } })).map((d) => d.kind);
    assert.deepEqual(kinds, ['ConfigMap', 'ConfigMap', 'Pod'], 'no claim, and no cluster policy for podman');
  });

  it('the firewall ConfigMap holds the same rules as `up` loads, and the resolver\'s policy with its deny list', () => {
    const cm = docsOf(spec()).find((d) => d.metadata.name === 'app-hdc-firewall')!;
    assert.deepEqual(Object.keys(cm.data!).sort(), ['guard.sh', 'ipset.restore', 'nat.v4', 'nat.v6', 'policy.json', 'rules.v4', 'rules.v6']);
    assert.match(cm.data!['rules.v4'], /^:OUTPUT DROP/m);
    assert.deepEqual(JSON.parse(cm.data!['policy.json']).policy.denied, ['no.wild.test']);
  });

  it('NetworkPolicy: DNS, the CIDRs, and with names the public internet but never the cluster\'s networks or the metadata address', () => {
    const np = docsOf(spec()).find((d) => d.kind === 'NetworkPolicy')!.spec as { policyTypes: string[]; egress: { to: { ipBlock?: { cidr: string; except?: string[] } }[]; ports?: unknown[] }[] };
    assert.deepEqual(np.policyTypes, ['Egress']);
    assert.equal(np.egress.length, 3);
    assert.deepEqual(np.egress[1].to, [{ ipBlock: { cidr: '10.1.2.0/24' } }]);
    assert.ok(np.egress[2].to[0].ipBlock!.except!.includes('169.254.0.0/16'));
    const cidrsOnly = docsOf(spec({ firewall: { ...spec().firewall!, policy: { ...policy, domains: [] } } })).find((d) => d.kind === 'NetworkPolicy')!.spec as typeof np;
    assert.equal(cidrsOnly.egress.length, 2, 'no name allowed: no internet at all');
  });

  it('Cilium: the same names, our "*." as Cilium\'s "**." (any depth), and the DNS proxy asked only for them', () => {
    const cnp = docsOf(spec({ cilium: true })).find((d) => d.kind === 'CiliumNetworkPolicy')!.spec as { egress: Record<string, unknown>[] };
    const fqdns = [{ matchName: 'allowed.test' }, { matchPattern: '**.wild.test' }];
    assert.deepEqual(cnp.egress[1], { toFQDNs: fqdns });
    assert.deepEqual((cnp.egress[0].toPorts as { rules: { dns: unknown } }[])[0].rules.dns, fqdns);
    assert.deepEqual(cnp.egress[2], { toCIDR: ['10.1.2.0/24'] });
    assert.equal(docsOf(spec({ cilium: false })).some((d) => d.kind === 'CiliumNetworkPolicy'), false);
    assert.ok('toEndpoints' in cnp.egress[0], 'DNS to the cluster\'s resolver');
    const own = docsOf(spec({ cilium: true, firewall: { ...spec().firewall!, dnsServers: ['10.0.0.53', 'fd00::53'] } })).find((d) => d.kind === 'CiliumNetworkPolicy')!.spec as typeof cnp;
    assert.deepEqual([own.egress[0].toCIDR, own.egress[0].toEndpoints], [['10.0.0.53/32', 'fd00::53/128'], undefined], 'DNS to the settings\' resolvers only');
  });

  it('the sidecar: its graph claim chowned to fsOwner by an init step, the socket on a shared volume, no network capability', () => {
    const sidecar = { settings: { ...DEFAULT_SETTINGS.podmanSidecar, enabled: true, extFiles: { '/etc/containers/registries.conf': 'x' } }, runAs: { uid: 1000, gid: 1000 }, fsOwner: { uid: 1000, gid: 1000 }, graphStorageSize: '20Gi' };
    const docs = docsOf(spec({ sidecar }));
    assert.ok(docs.some((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === 'app-podman-graph'));
    const pod = podOf(spec({ sidecar }));
    const owner = pod.spec!.initContainers!.find((c) => c.name === 'hdc-graph-owner')!;
    assert.deepEqual(owner.command, ['/bin/chown', '1000:1000', '/var/lib/containers']);
    const podman = pod.spec!.containers.find((c) => c.name === 'podman')!;
    assert.deepEqual(podman.securityContext?.capabilities, { drop: ['ALL'], add: ['SETUID', 'SETGID'] });
    assert.equal(podman.securityContext?.runAsUser, 1000);
    assert.ok(podman.volumeMounts!.some((m) => m.mountPath === '/etc/containers/registries.conf' && m.readOnly));
    assert.equal(podman.volumeMounts!.some((m) => m.name === 'workspace-source'), false, 'no source without parentStorages');
    const parent = podOf(spec({ sidecar: { ...sidecar, settings: { ...sidecar.settings, parentStorages: true } } })).spec!.containers.find((c) => c.name === 'podman')!;
    assert.deepEqual(parent.volumeMounts!.filter((m) => m.name === 'workspace-source').map((m) => [m.mountPath, m.readOnly ?? false]),
      [['/workspaces/app', false], ['/workspaces/app/.devcontainer', true], ['/workspaces/app/.vscode', true], ['/workspaces/app/.git/hooks', true]]);
    const ws = pod.spec!.containers.find((c) => c.name === 'workspace')!;
    assert.ok(ws.env!.some((e) => e.name === 'DOCKER_HOST' && e.value === 'unix:///run/hardened-devcontainers/podman/podman.sock'));
  });

  it('lifecycle.sh is what the ConfigMap carries (ops reads the file the package ships)', () => {
    assert.match(readFileSync(LIFECYCLE, 'utf8'), /^#!\/bin\/sh\n/);
  });
});

describe('hdc kube: the workspace\'s mount point', () => {
  it('keeps clear of hdc\'s own mounts in the workspace container (the repository chooses it)', () => {
    for (const ok of ['/workspaces/app', '/work', '/hdc-readyx', '/runner', '/srv/hdc-ready', '/home/vscode/src', '/app']) checkKubeWorkspaceTarget(ok, 'dc.json');
    for (const bad of ['/', '/hdc-ready', '/hdc-ready/', '/hdc-ready/ready', '/hdc-lifecycle/x', '/run', '/run/hardened-devcontainers', '/run/hardened-devcontainers/podman', '/./hdc-ready', 'relative',
      '/etc', '/etc/containers', '/usr/local/app', '/bin', '/lib64', '/var/run/x', '/var/lib/containers', '/proc', '/workspaces/../etc', '/hdc-firewall']) {
      assert.throws(() => checkKubeWorkspaceTarget(bad, 'dc.json'), (e: Error) => e instanceof InputError && /^dc\.json: the workspace would be mounted at /.test(e.message), bad);
    }
  });
});

describe('hdc kube: the sidecar settings a pod refuses', () => {
  const sidecar = (over: Partial<typeof DEFAULT_SETTINGS.podmanSidecar>) => ({ ...DEFAULT_SETTINGS.podmanSidecar, enabled: true, ...over });
  it('privileged, and a graph storage named like this pod\'s or another workspace\'s objects, or no claim name on a cluster', () => {
    assert.throws(() => checkKubeSidecar(sidecar({ privileged: true }), 'app', 'podman'), (e: unknown) => e instanceof InputError && /shares the workspace's network namespace/.test(e.message));
    for (const graph of ['app-workspace', 'app-hdc-firewall', 'other-hdc-firewall', 'other-workspace', 'x-hdc-lifecycle', 'y-podman-files']) {
      assert.throws(() => checkKubeSidecar(sidecar({ graphStorage: graph }), 'app', 'podman'), InputError, graph);
    }
    assert.throws(() => checkKubeSidecar(sidecar({ graphStorage: 'Not_A_Claim' }), 'app', 'cluster'), /not a claim name/);
    for (const graph of ['', 'app-podman-graph', 'my-graph', 'team.graph-1']) assert.doesNotThrow(() => checkKubeSidecar(sidecar({ graphStorage: graph }), 'app', 'cluster'), graph);
    assert.doesNotThrow(() => checkKubeSidecar({ ...sidecar({ privileged: true }), enabled: false }, 'app', 'podman'), 'the sidecar off: nothing to refuse');
  });
});
