import * as path from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { INetworkPolicyEgressRule } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyEgressRule';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { CiliumNetworkPolicy } from '@kubernetes-models/cilium/cilium.io/v2/CiliumNetworkPolicy';
import { stringify } from 'yaml';
import { HOOK_FILES } from '../base/protocol';
import { allowSet, ipsetPayload, natPayload, rulesPayload, type FirewallPolicy } from '../firewall/policy';
import { UNPRIVILEGED_PORT_START } from '../firewall/sets';
import type { LifecycleStep } from './lifecycle';
import { SIDECAR_CLIENT_CONF, SIDECAR_CONTAINERS_CONF, SIDECAR_SOCKET, SIDECAR_SOCKET_DIR, SIDECAR_STORAGE_CONF } from '../sidecar/sidecar';
import type { SidecarSettings } from '../config/settings';

/**
 * `hdc kube`: the hardened workspace as Kubernetes objects, built as typed models
 * (kubernetes-models, which also validates them against the API schema) and written as YAML
 * with the `yaml` library. Pure: every input comes in through KubeSpec; ops/kube.ts reads the
 * image, the settings and the files.
 *
 * Two targets that differ only where podman's `kube play` (4.3) lacks a cluster feature:
 * - cluster: the egress container is a native sidecar (an init container with
 *   restartPolicy Always and a startup probe: Kubernetes ≥ 1.29), so the lifecycle init
 *   container and the workspace only start once the rules and the filtering resolver are up;
 *   the source is a PersistentVolumeClaim; postStart is the container's postStart hook.
 * - podman: no native sidecars and no postStart hooks there. An init container loads the
 *   rules (so they are in place before any other container's first process), the egress
 *   container then runs the resolver, and the workspace's own process runs the lifecycle
 *   commands once the resolver is ready, then stays. The source is the host folder.
 */

export type KubeTarget = 'cluster' | 'podman';

export interface KubeSidecar {
  settings: SidecarSettings;
  /** cluster: the sidecar's user (the seed's rootless default is 1000:1000). */
  runAs: { uid: number; gid: number };
  /** The graph storage's owner, set by an init step that chowns the claim. */
  fsOwner: { uid: number; gid: number };
  graphStorageSize: string;
  /**
   * podman: the sidecar's files (ours, extFiles) and the workspace's client config as host
   * files (podman 4.3 mounts a ConfigMap's subPath as a folder). Cluster: a ConfigMap.
   */
  hostFiles?: { files: { target: string; host: string }[]; clientConf: string };
}

export interface KubeSpec {
  name: string;
  namespace?: string;
  target: KubeTarget;
  image: string;
  user: { user: string; uid: number; gid: number };
  /** Where the source is mounted in the workspace, as the devcontainers CLI mounts it (/workspaces/NAME). */
  workspaceFolder: string;
  /** The folder the workspace's processes start in (the CLI's workspaceFolder: the mount, or a folder under it). */
  workingDir: string;
  /** cluster: a claim of this size; podman: this host folder. */
  source: { claimSize: string } | { hostPath: string };
  /** The config the next rebuild reads and .git/hooks, relative to the source (posix). */
  protectedPaths: string[];
  /** podman: the same as host paths (only those that exist). */
  protectedHostPaths?: string[];
  env: Record<string, string>;
  lifecycle: LifecycleStep[];
  limits: { cpus: string; memory: string };
  /** Whether the engine can enforce resource limits (rootless podman on cgroup v1 refuses them). */
  resourceLimits: boolean;
  firewall?: {
    policy: FirewallPolicy;
    /** The resolvers the filtering resolver asks; [] = the pod's own (the cluster DNS). */
    dnsServers: string[];
    egressImage: string;
    guardScript: string;
    /** podman: the host's Node and hdc's bundle, mounted read-only (a cluster image has them). */
    hostNode?: { node: string; dist: string };
  };
  sidecar?: KubeSidecar;
  lifecycleScript: string;
  cilium: boolean;
}

export type KubeObject = Pod | ConfigMap | PersistentVolumeClaim | NetworkPolicy | CiliumNetworkPolicy;

/** Where things are mounted in the pod's containers. */
export const KUBE_PATHS = {
  firewall: '/hdc-firewall',
  lifecycle: '/hdc-lifecycle',
  ready: '/hdc-ready',
  readyFile: '/hdc-ready/ready',
  node: '/hdc/node',
  dist: '/hdc/dist',
} as const;

/**
 * Where the workspace's mount point may not be, hold or lie: hdc's own mounts in the
 * workspace container; the sidecar's configuration and storage (with parentStorages the
 * workspace is mounted there too); and the system's folders, whose programs and loader
 * configuration run before anything of hdc's in the container.
 */
export const HDC_WORKSPACE_MOUNTS = [KUBE_PATHS.lifecycle, KUBE_PATHS.ready, KUBE_PATHS.firewall, path.posix.dirname(SIDECAR_SOCKET_DIR),
  '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/proc', '/sys', '/dev', '/run', '/var/run', '/var/lib/containers', '/boot'] as const;

export const KUBE_CONTAINERS = { egress: 'hdc-egress', rules: 'hdc-egress-rules', lifecycle: 'hdc-lifecycle', workspace: 'workspace', sidecar: 'podman', graphOwner: 'hdc-graph-owner' } as const;

const LABEL_INSTANCE = 'app.kubernetes.io/instance';

/** The native sidecar's startup probe: guard.sh's mark holds the network namespace it loaded the rules in. */
export const READY_PROBE = ['/bin/sh', '-c', 'test "$(cat /tmp/hdc-guard-ready)" = "$(readlink /proc/self/ns/net)"'];

/**
 * podman kube play runs an init container on the pod's first start only, unless the pod
 * says "always": the rules' init container must run on every start, so that a restarted
 * pod (a new network namespace) has its rules before the workspace's first process.
 */
export const PODMAN_INIT_ALWAYS = { 'io.podman.annotations.init.container.type': 'always' };

/** A DNS-1123 label from any text (a folder's name): lower case, [a-z0-9-], at most `max`. */
export function kubeName(text: string, max = 40): string {
  const name = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max).replace(/-+$/, '');
  return name || 'workspace';
}

/** The engine's "4g"/"512m"/"1024" as a Kubernetes quantity; "" stays "". */
export function memoryQuantity(setting: string): string {
  const m = /^(\d+)([bkmg]?)$/i.exec(setting);
  if (!m) return '';
  const unit = { '': '', b: '', k: 'Ki', m: 'Mi', g: 'Gi' }[m[2].toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  return `${m[1]}${unit}`;
}

/**
 * The lifecycle script's arguments for these steps: STAGE N WORD1…WORDN each (lifecycle.sh).
 * Every value is one argv word; none is ever given to a shell to parse but the string
 * commands, which devcontainer.json defines as shell commands (`/bin/sh -c`).
 */
export function lifecycleArgs(steps: readonly LifecycleStep[]): string[] {
  return steps.flatMap((s) => [s.stage, String(s.argv.length), ...s.argv]);
}

const labelsOf = (spec: KubeSpec): Record<string, string> => ({
  'app.kubernetes.io/name': 'hardened-devcontainer',
  [LABEL_INSTANCE]: spec.name,
  'app.kubernetes.io/managed-by': 'hdc',
});

const meta = (spec: KubeSpec, name: string): { name: string; namespace?: string; labels: Record<string, string> } =>
  ({ name, ...(spec.namespace ? { namespace: spec.namespace } : {}), labels: labelsOf(spec) });

/** The firewall's files, as the docker guard reads them (guard.sh), in a ConfigMap. */
export function firewallFiles(fw: NonNullable<KubeSpec['firewall']>): Record<string, string> {
  const { policy } = fw;
  return {
    'guard.sh': fw.guardScript,
    'policy.json': `${JSON.stringify({ policy }, null, 2)}\n`,
    [HOOK_FILES.ipset]: ipsetPayload(allowSet(policy), { resetDns: true }),
    [HOOK_FILES.rulesV4]: rulesPayload(4),
    [HOOK_FILES.rulesV6]: rulesPayload(6),
    [HOOK_FILES.natV4]: natPayload(4),
    [HOOK_FILES.natV6]: natPayload(6),
    ...(fw.dnsServers.length ? { 'dns.txt': fw.dnsServers.map((s) => `nameserver ${s}\n`).join('') } : {}),
  };
}

/** Every object of the workspace, in the order to apply them. */
export function kubeObjects(spec: KubeSpec): KubeObject[] {
  const objects: KubeObject[] = [];
  const names = {
    firewall: `${spec.name}-hdc-firewall`,
    lifecycle: `${spec.name}-hdc-lifecycle`,
    source: `${spec.name}-workspace`,
    graph: spec.sidecar?.settings.graphStorage || `${spec.name}-podman-graph`,
    extFiles: `${spec.name}-podman-files`,
  };
  const cluster = spec.target === 'cluster';
  const fw = spec.firewall;
  if (fw) objects.push(new ConfigMap({ metadata: meta(spec, names.firewall), data: firewallFiles(fw) }));
  objects.push(new ConfigMap({ metadata: meta(spec, names.lifecycle), data: { 'lifecycle.sh': spec.lifecycleScript } }));
  if ('claimSize' in spec.source) {
    objects.push(new PersistentVolumeClaim({ metadata: meta(spec, names.source), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: spec.source.claimSize } } } }));
  }
  const sidecar = spec.sidecar;
  if (sidecar) {
    // podman creates the named volume of a claim on first use, and refuses a claim object
    // whose volume exists: the graph storage outlives `podman kube down`, so no object there.
    if (cluster) objects.push(new PersistentVolumeClaim({ metadata: meta(spec, names.graph), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: sidecar.graphStorageSize } } } }));
    if (!sidecar.hostFiles) objects.push(new ConfigMap({ metadata: meta(spec, names.extFiles), data: sidecarFiles(sidecar.settings) }));
  }

  const volumes: IVolume[] = [
    { name: 'hdc-lifecycle', configMap: { name: names.lifecycle, defaultMode: 0o444 } },
    'claimSize' in spec.source
      ? { name: 'workspace-source', persistentVolumeClaim: { claimName: names.source } }
      : { name: 'workspace-source', hostPath: { path: spec.source.hostPath, type: 'Directory' } },
  ];
  // The config the next rebuild reads and .git/hooks: read-only over the source.
  const protectedMounts: IVolumeMount[] = [];
  if ('claimSize' in spec.source) {
    for (const rel of spec.protectedPaths) protectedMounts.push({ name: 'workspace-source', mountPath: path.posix.join(spec.workspaceFolder, rel), subPath: rel, readOnly: true });
  } else {
    spec.protectedPaths.forEach((rel, i) => {
      const host = spec.protectedHostPaths?.[i];
      if (!host) return;
      volumes.push({ name: `protected-${i}`, hostPath: { path: host } });
      protectedMounts.push({ name: `protected-${i}`, mountPath: path.posix.join(spec.workspaceFolder, rel), readOnly: true });
    });
  }
  const sourceMounts: IVolumeMount[] = [{ name: 'workspace-source', mountPath: spec.workspaceFolder }, ...protectedMounts,
    { name: 'hdc-lifecycle', mountPath: KUBE_PATHS.lifecycle, readOnly: true }];

  const initContainers: IContainer[] = [];
  const containers: IContainer[] = [];
  if (fw) {
    volumes.push({ name: 'hdc-firewall', configMap: { name: names.firewall, defaultMode: 0o444 } },
      { name: 'hdc-egress-tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
      { name: 'hdc-ready', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    if (fw.hostNode) {
      volumes.push({ name: 'hdc-node', hostPath: { path: fw.hostNode.node, type: 'File' } }, { name: 'hdc-dist', hostPath: { path: fw.hostNode.dist, type: 'Directory' } });
    }
    const egress = (name: string, args: string[]): IContainer => ({
      name, image: fw.egressImage, command: ['/bin/sh', `${KUBE_PATHS.firewall}/guard.sh`, ...args],
      // hdc's egress image sets no PATH, and podman's kube play gives none: the resolver runs `ipset`.
      env: [{ name: 'PATH', value: '/usr/sbin:/usr/bin:/sbin:/bin' }],
      securityContext: {
        runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
        // iptables-restore needs NET_RAW with NET_ADMIN; only the resolver may bind a port below 1024.
        capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'] },
      },
      volumeMounts: [
        { name: 'hdc-firewall', mountPath: KUBE_PATHS.firewall, readOnly: true },
        { name: 'hdc-egress-tmp', mountPath: '/tmp' },
        { name: 'hdc-ready', mountPath: KUBE_PATHS.ready },
        ...(fw.hostNode ? [{ name: 'hdc-node', mountPath: KUBE_PATHS.node, readOnly: true }, { name: 'hdc-dist', mountPath: KUBE_PATHS.dist, readOnly: true }] : []),
      ],
      ...(spec.resourceLimits ? { resources: { limits: { memory: '256Mi' } } } : {}),
    });
    if (cluster) {
      initContainers.push({ ...egress(KUBE_CONTAINERS.egress, []), restartPolicy: 'Always',
        // Ready once guard.sh wrote its mark, naming this (the pod's) network namespace.
        startupProbe: { exec: { command: READY_PROBE }, periodSeconds: 1, failureThreshold: 60 } });
    } else {
      initContainers.push(egress(KUBE_CONTAINERS.rules, ['rules']));
      containers.push(egress(KUBE_CONTAINERS.egress, []));
    }
  }

  const env = Object.entries(spec.env).map(([name, value]) => ({ name, value }));
  const sidecarShare = sidecar ? sidecarWorkspaceShare() : undefined;
  if (sidecarShare) {
    env.push(...Object.entries(sidecarShare.env).map(([name, value]) => ({ name, value })));
    volumes.push({ name: 'podman-socket', emptyDir: {} });
  }
  const workspaceSecurity = {
    runAsUser: spec.user.uid, runAsGroup: spec.user.gid, runAsNonRoot: true, privileged: false,
    // The cluster's form of "no sudo": no setuid, no file capabilities, for every process.
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  };
  const limits: Record<string, string> = {};
  if (spec.limits.cpus && spec.resourceLimits) limits.cpu = spec.limits.cpus;
  if (memoryQuantity(spec.limits.memory) && spec.resourceLimits) limits.memory = memoryQuantity(spec.limits.memory);
  const script = ['/bin/sh', `${KUBE_PATHS.lifecycle}/lifecycle.sh`];
  const wsMounts: IVolumeMount[] = [...sourceMounts,
    ...(fw ? [{ name: 'hdc-ready', mountPath: KUBE_PATHS.ready, readOnly: true }] : []),
    // Read-only: connect() needs no write access to the mount, and the workspace can then
    // neither plant a file where the socket goes nor swap the socket for a link.
    ...(sidecarShare ? [{ name: 'podman-socket', mountPath: SIDECAR_SOCKET_DIR, readOnly: true },
      sidecar?.hostFiles ? { name: 'podman-client-conf', mountPath: sidecarShare.clientConfMount, readOnly: true }
        : { name: 'podman-files', mountPath: sidecarShare.clientConfMount, subPath: 'client.conf', readOnly: true }] : [])];
  const workspaceBase: IContainer = {
    name: KUBE_CONTAINERS.workspace, image: spec.image, workingDir: spec.workingDir, env, securityContext: workspaceSecurity, volumeMounts: wsMounts,
    ...(Object.keys(limits).length ? { resources: { limits } } : {}),
  };
  const create = spec.lifecycle.filter((s) => s.stage !== 'postStart');
  const postStart = spec.lifecycle.filter((s) => s.stage === 'postStart');
  if (cluster) {
    // The kubelet expands $(VAR) and turns $$ into $ in a container's command (not in an exec
    // hook's): every $ doubled keeps each word as devcontainer.json wrote it. (podman 4.3's
    // kube play does neither, so the podman target passes the words as they are.)
    if (create.length) initContainers.push({ ...workspaceBase, name: KUBE_CONTAINERS.lifecycle, command: [...script, '-', 'exit', ...lifecycleArgs(create).map((w) => w.replaceAll('$', '$$$$'))] });
    containers.push({ ...workspaceBase, command: [...script, '-', 'sleep'],
      ...(postStart.length ? { lifecycle: { postStart: { exec: { command: [...script, '-', 'exit', ...lifecycleArgs(postStart)] } } } } : {}) });
  } else {
    containers.push({ ...workspaceBase, command: [...script, fw ? KUBE_PATHS.readyFile : '-', 'sleep', ...lifecycleArgs(spec.lifecycle)] });
  }

  if (sidecar) {
    volumes.push({ name: 'podman-graph', persistentVolumeClaim: { claimName: names.graph } });
    if (sidecar.hostFiles) {
      volumes.push({ name: 'podman-client-conf', hostPath: { path: sidecar.hostFiles.clientConf, type: 'File' } },
        ...sidecar.hostFiles.files.map((f, i): IVolume => ({ name: `podman-file-${i}`, hostPath: { path: f.host, type: 'File' } })));
    } else {
      volumes.push({ name: 'podman-files', configMap: { name: names.extFiles, defaultMode: 0o444 } });
    }
    const { initContainer, container } = sidecarContainers(spec, sidecar, protectedMounts);
    initContainers.push(initContainer);
    containers.push(container);
  }

  objects.push(new Pod({
    metadata: { ...meta(spec, spec.name), ...(cluster ? {} : { annotations: PODMAN_INIT_ALWAYS }) },
    spec: {
      // The workspace gets no token for the cluster's API, and no variables naming its services.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      shareProcessNamespace: false,
      hostNetwork: false, hostPID: false, hostIPC: false,
      // podman applies the pod's policy to init containers too: with Always, the rules'
      // init container would run again and again.
      restartPolicy: cluster ? 'Always' : 'OnFailure',
      securityContext: {
        seccompProfile: { type: 'RuntimeDefault' },
        // A "safe" sysctl: only a process with NET_BIND_SERVICE (the filtering resolver) can
        // send from a port below 1024, which is what the rules let DNS upstream come from.
        sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(UNPRIVILEGED_PORT_START) }],
      },
      ...(fw?.dnsServers.length ? { dnsPolicy: 'None', dnsConfig: { nameservers: fw.dnsServers } } : {}),
      initContainers,
      containers,
      volumes,
    },
  }));
  // Policies add up (a flow passes when any policy allows it): with Cilium's, a NetworkPolicy
  // that opens the public internet for the names would make its FQDN rules moot. One or the other.
  if (cluster && fw) objects.push(spec.cilium ? ciliumPolicy(spec, fw.policy, fw.dnsServers) : networkPolicy(spec, fw.policy, fw.dnsServers));
  return objects;
}

/** Where the sidecar's files go: our podman config (unless an extFile replaces it), and extFiles. */
export function sidecarFileTargets(settings: SidecarSettings): { target: string; key: string; content: string }[] {
  const ours = '/etc/containers/containers.conf.d/10-hardened-devcontainers.conf';
  return [
    ...(settings.extFiles[ours] === undefined ? [{ target: ours, key: 'containers.conf', content: SIDECAR_CONTAINERS_CONF }] : []),
    ...(settings.extFiles['/etc/containers/storage.conf'] === undefined ? [{ target: '/etc/containers/storage.conf', key: 'storage.conf', content: SIDECAR_STORAGE_CONF }] : []),
    ...Object.entries(settings.extFiles).map(([target, content], i) => ({ target, key: `ext-${i}`, content })),
  ];
}

function configMapFileMounts(settings: SidecarSettings): IVolumeMount[] {
  return sidecarFileTargets(settings).map((f) => ({ name: 'podman-files', mountPath: f.target, subPath: f.key, readOnly: true }));
}

/** The sidecar's own files: our podman config (unless extFiles replaces it), and extFiles. */
function sidecarFiles(settings: SidecarSettings): Record<string, string> {
  return Object.fromEntries([['client.conf', SIDECAR_CLIENT_CONF], ...sidecarFileTargets(settings).map((f) => [f.key, f.content])]);
}

function sidecarWorkspaceShare(): { env: Record<string, string>; clientConfMount: string } {
  const url = `unix://${SIDECAR_SOCKET}`;
  const clientConfMount = '/run/hardened-devcontainers/podman-client.conf';
  return {
    // As in `up`; /var/run/docker.sock is not linked in a pod (`up` links it as root through
    // the engine, a step a pod has not): DOCKER_HOST is what docker clients read first.
    env: { DOCKER_HOST: url, CONTAINER_HOST: url, CONTAINERS_CONF: clientConfMount },
    clientConfMount,
  };
}

/**
 * The Podman sidecar: podman's API on a socket in a volume the workspace mounts too. It shares
 * the pod's network namespace, so it and its nested containers are behind the same rules and
 * resolver; it holds no network capability. The graph storage is a claim, owned by
 * fsOwnerUid/fsOwnerGid through an init step that chowns it.
 */
function sidecarContainers(spec: KubeSpec, sidecar: KubeSidecar, protectedMounts: IVolumeMount[]): { initContainer: IContainer; container: IContainer } {
  const s = sidecar.settings;
  const cluster = spec.target === 'cluster';
  const fileMounts: IVolumeMount[] = sidecar.hostFiles
    ? sidecar.hostFiles.files.map((f, i) => ({ name: `podman-file-${i}`, mountPath: f.target, readOnly: true }))
    : configMapFileMounts(s);
  const mounts: IVolumeMount[] = [
    { name: 'podman-socket', mountPath: SIDECAR_SOCKET_DIR },
    { name: 'podman-graph', mountPath: '/var/lib/containers' },
    ...fileMounts,
    // parentStorages: the source again, with the same read-only paths over it (as `up` does;
    // the sidecar's SYS_ADMIN could unmount them: `up` and the README warn about it).
    ...(s.parentStorages ? [{ name: 'workspace-source', mountPath: spec.workspaceFolder }, ...protectedMounts] : []),
  ];
  const resources: Record<string, string> = {};
  if (s.resources.cpu && spec.resourceLimits) resources.cpu = s.resources.cpu;
  if (memoryQuantity(s.resources.memory) && spec.resourceLimits) resources.memory = memoryQuantity(s.resources.memory);
  // No privileged form: in a pod the sidecar shares the workspace's network namespace, so a
  // privileged one could drop the pod's rules (ops/kube.ts refuses podmanSidecar.privileged).
  const security = cluster
      // The seed's rootless sidecar: podman as an unprivileged user of its image.
      // Its newuidmap/newgidmap need SETUID and SETGID; nothing else.
      ? { runAsUser: sidecar.runAs.uid, runAsGroup: sidecar.runAs.gid, runAsNonRoot: true, allowPrivilegeEscalation: true,
        capabilities: { drop: ['ALL'], add: ['SETUID', 'SETGID'] } }
      // podman kube play runs rootless already: root of the container is the host user, as in `up`.
      : { runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false,
        capabilities: { add: ['SYS_ADMIN'], drop: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_PTRACE', 'MKNOD'] } };
  const container: IContainer = {
    name: KUBE_CONTAINERS.sidecar, image: s.image,
    // The socket belongs to the remote user once it is there (in a pod the sidecar's root is
    // not the workspace's user, as it is in `up`): a fixed script, the ids as its arguments.
    // Once the service answers on it: podman may make the socket file again as it starts.
    command: ['/bin/sh', '-c', 'podman system service --time 0 "unix://$1" & p=$!; '
      + 'until podman --url "unix://$1" version >/dev/null 2>&1; do kill -0 "$p" 2>/dev/null || exit 1; sleep 0.1; done; '
      + '[ -S "$1" ] && [ ! -L "$1" ] && chown -h "$2:$3" "$1" || exit 1; wait "$p"',
    'sidecar', SIDECAR_SOCKET, String(spec.user.uid), String(spec.user.gid)],
    // podman finds crun and conmon on PATH; an image without ENV PATH gets none in a pod.
    env: [{ name: 'PATH', value: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }],
    securityContext: security, volumeMounts: mounts,
    ...(Object.keys(resources).length ? { resources: { limits: resources } } : {}),
  };
  const initContainer: IContainer = {
    name: KUBE_CONTAINERS.graphOwner, image: s.image,
    command: ['/bin/chown', `${sidecar.fsOwner.uid}:${sidecar.fsOwner.gid}`, '/var/lib/containers'],
    securityContext: { runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['CHOWN'] } },
    volumeMounts: [{ name: 'podman-graph', mountPath: '/var/lib/containers' }],
  };
  return { initContainer, container };
}

/** Addresses a workspace pod never needs to reach by a name rule: the cluster's own networks and link-local (cloud metadata). */
export const CLUSTER_PRIVATE_V4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8'];
export const CLUSTER_PRIVATE_V6 = ['fc00::/7', 'fe80::/10', '::1/128'];

/**
 * Defence in depth at the cluster: the pod's egress only to DNS and the allowed CIDRs. A
 * NetworkPolicy cannot name hosts: with names in the allowlist, the public internet is open
 * at this level (the in-pod rules and resolver decide by name) but never the cluster's own
 * networks nor the metadata address.
 */
export function networkPolicy(spec: KubeSpec, policy: FirewallPolicy, dnsServers: string[]): NetworkPolicy {
  const dnsPorts = [{ protocol: 'UDP' as const, port: 53 }, { protocol: 'TCP' as const, port: 53 }];
  const egress: INetworkPolicyEgressRule[] = [
    dnsServers.length
      ? { to: dnsServers.map((s) => ({ ipBlock: { cidr: s.includes(':') ? `${s}/128` : `${s}/32` } })), ports: dnsPorts }
      : { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: dnsPorts },
  ];
  const cidrs = [...policy.cidrs4, ...policy.cidrs6];
  if (cidrs.length) egress.push({ to: cidrs.map((cidr) => ({ ipBlock: { cidr } })) });
  if (policy.domains.length) {
    egress.push({ to: [
      { ipBlock: { cidr: '0.0.0.0/0', except: CLUSTER_PRIVATE_V4 } },
      ...(policy.cidrs6.length ? [{ ipBlock: { cidr: '::/0', except: CLUSTER_PRIVATE_V6 } }] : []),
    ] });
  }
  return new NetworkPolicy({
    metadata: meta(spec, `${spec.name}-egress`),
    spec: { podSelector: { matchLabels: { [LABEL_INSTANCE]: spec.name } }, policyTypes: ['Egress'], egress },
  });
}

/**
 * Cilium's FQDN policy from the same allowlist: its DNS proxy admits the answers' addresses
 * for the allowed names only. Our "*.example.com" (any depth) is Cilium's "**.example.com";
 * a Cilium without "**." reads it as one level (narrower, never wider). Cilium has no
 * FQDN deny: denied names under an allowed wildcard are refused by the in-pod resolver only.
 */
export function ciliumPolicy(spec: KubeSpec, policy: FirewallPolicy, dnsServers: string[] = []): CiliumNetworkPolicy {
  const fqdns = policy.domains.map((d) => (d.startsWith('*.') ? { matchPattern: `*${d}` } : { matchName: d }));
  const egress: Record<string, unknown>[] = [];
  if (fqdns.length) {
    // DNS only to the resolvers the pod uses (the settings' dnsServers, or the cluster's), and
    // through Cilium's DNS proxy, which answers the allowed names only.
    const dnsPeers = dnsServers.length
      ? { toCIDR: dnsServers.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`)) }
      : { toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' } }] };
    egress.push({ ...dnsPeers, toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: fqdns } }] }, { toFQDNs: fqdns });
  }
  const cidrs = [...policy.cidrs4, ...policy.cidrs6];
  if (cidrs.length) egress.push({ toCIDR: cidrs });
  return new CiliumNetworkPolicy({
    metadata: meta(spec, `${spec.name}-fqdn`),
    spec: { endpointSelector: { matchLabels: { [LABEL_INSTANCE]: spec.name } }, ...(egress.length ? { egress } : { egressDeny: [{ toEntities: ['all'] }] }) },
  } as ConstructorParameters<typeof CiliumNetworkPolicy>[0]);
}

/** Validates every object against its schema (throws the first problem), then YAML, one document each. */
export function kubeYaml(objects: KubeObject[]): string {
  for (const o of objects) o.validate();
  return objects.map((o) => stringify(JSON.parse(JSON.stringify(o)) as unknown, { lineWidth: 0 })).join('---\n');
}
