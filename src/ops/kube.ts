import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { checkImageAnnotations, insideWorkspace } from '../hardening/privilege';
import * as path from 'node:path';
import { devcontainerCli } from '../base/devcontainerCli';
import { IMAGE_REFERENCE } from '../base/engine';
import { InputError } from '../base/errors';
import { firewallResolverPath, guardScriptSourcePath, kubeLifecycleScriptPath } from '../base/paths';
import type { LogFn, RunOptions } from '../base/runner';
import { workspaceStateDir } from '../base/state';
import { readWorkspaceConfiguration } from '../config/configuration';
import type { Settings } from '../config/settings';
import { EGRESS_KUBE_IMAGE, egressImageDir, ensureEgressImage } from '../firewall/egressImage';
import { selfContainedEgress } from './egressImage';
import { policyFromSettings } from '../firewall/policy';
import { LIMITS_NOT_ENFORCED, limitsEnforceable, protectedPaths } from '../hardening/hardening';
import { lifecycleSteps, unmappedLifecycle } from '../kube/lifecycle';
import { HDC_WORKSPACE_MOUNTS, kubeName, kubeObjects, kubeYaml, sidecarFileTargets, type KubeSidecar, type KubeSpec, type KubeTarget } from '../kube/manifests';
import { SIDECAR_CLIENT_CONF } from '../sidecar/sidecar';
import { writeIfChanged } from '../base/files';
import { ensureImage } from '../workspace/imageUser';
import { engineOf, type OpsDeps } from './deps';
import { aptPreset } from './presets';
import { checkMergedPrivilege } from './upHost';
import { planUp } from './upPlan';
import { checkedRemoteUser, userCheckCache } from './upUser';

/**
 * `hdc kube`: the hardened workspace as Kubernetes manifests, from the same devcontainer.json
 * and settings as `up`, checked the same way before anything is written: the configuration
 * merged by the devcontainers CLI (features' metadata and the image label included), its
 * privilege requests, the remote user's ids read from the image.
 */

export interface KubeOptions {
  target: KubeTarget;
  namespace?: string;
  /** The workspace image (a build's result pushed somewhere); default devcontainer.json's image. */
  image?: string;
  /** The pod's name; default from the folder's name. */
  name?: string;
  /** cluster: an egress image with sh, iptables, ipset, Node at /hdc/node and hdc's bundle at /hdc/dist. */
  egressImage?: string;
  cilium: boolean;
  /** cluster: the size of the source's claim. */
  claimSize: string;
}

export interface KubeResult {
  yaml: string;
  name: string;
  target: KubeTarget;
  objects: { kind: string; name: string }[];
  /** podman: how to run it on this machine (`podman kube play …`), as argv. */
  play?: string[];
  notes: string[];
  ms: number;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export async function kube(folder: string, settings: Settings, stateRoot: string, o: KubeOptions, log: LogFn, signal?: AbortSignal, deps: OpsDeps = {}): Promise<KubeResult> {
  const t0 = performance.now();
  const options: RunOptions = { log, signal, runner: deps.runner };
  if (o.name !== undefined && !DNS_LABEL.test(o.name)) throw new InputError(`--name ${JSON.stringify(o.name)} is not a DNS-1123 label.`, 'use lower-case letters, digits and inner hyphens, at most 63');
  if (o.namespace !== undefined && !DNS_LABEL.test(o.namespace)) throw new InputError(`--namespace ${JSON.stringify(o.namespace)} is not a DNS-1123 label.`);
  for (const [flag, value] of [['--image', o.image], ['--egress-image', o.egressImage]] as const) {
    if (value !== undefined && !IMAGE_REFERENCE.test(value)) throw new InputError(`${flag} ${JSON.stringify(value)} is not an image reference.`);
  }
  if (!/^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$/.test(o.claimSize)) throw new InputError(`--storage ${JSON.stringify(o.claimSize)} is not a size such as "10Gi".`);
  if (o.target === 'podman' && settings.runtime !== 'podman') {
    throw new InputError('--target podman runs the manifests with `podman kube play`, and the runtime is docker.', 'use --runtime podman, or --target cluster');
  }
  const planned = await planUp(folder, settings, stateRoot, options);
  const { ws } = planned;
  const notes = [...planned.notes];
  const name = o.name ?? kubeName(path.basename(ws.workspaceFolder));
  checkKubeSidecar(settings.podmanSidecar, name, o.target);
  const engine = await engineOf(settings, deps);
  const hasFeatures = typeof ws.config.features === 'object' && ws.config.features !== null && Object.keys(ws.config.features).length > 0;
  const imageRef = o.image ?? (hasFeatures ? undefined : ws.config.image);
  if (!imageRef) {
    throw new InputError(`${ws.file} builds its image (${ws.config.image === undefined ? 'a Dockerfile' : 'features'}), and a pod can only run an image that exists.`,
      'build it (hdc up does, or `devcontainer build --image-name NAME`), push it where the cluster pulls from, and pass --image NAME');
  }
  const image = await ensureImage(engine, imageRef, ws.file, options);
  // podman kube play copies an image's run.oci.* and io.podman.* annotations into the container, as run does.
  if (o.target === 'podman') checkImageAnnotations(image.annotations, imageRef, ws.file);
  const stateDir = await workspaceStateDir(stateRoot, ws.workspaceFolder);
  if (planned.policy && planned.presets.some((p) => p.name === 'apt')) {
    const apt = await aptPreset(engine, imageRef, image.id, stateDir, options);
    planned.presets = planned.presets.map((p) => (p.name === 'apt' ? apt : p));
    planned.policy = policyFromSettings(settings.firewall, planned.presets);
  }

  // The CLI's merge, for --image as for devcontainer.json's own image: an override config that
  // names the image (its label carries what the build's features added).
  let overrideConfig: string | undefined;
  if (o.image) {
    const rest: Record<string, unknown> = { ...ws.config };
    for (const key of ['build', 'dockerFile', 'features']) delete rest[key];
    overrideConfig = path.join(stateDir, 'kube', 'devcontainer.json');
    await mkdir(path.dirname(overrideConfig), { recursive: true, mode: 0o700 });
    await writeFile(overrideConfig, `${JSON.stringify({ ...rest, image: o.image }, null, 2)}\n`, { mode: 0o600 });
  }
  const { layout, merged, features } = await readWorkspaceConfiguration({
    workspaceFolder: ws.workspaceFolder, configFile: ws.file, stateDir, imageId: image.id, cacheable: overrideConfig === undefined,
    call: devcontainerCli.readConfiguration({ workspaceFolder: ws.workspaceFolder, dockerPath: engine.path, overrideConfig, env: {} }),
    options,
  });
  checkKubeWorkspaceTarget(layout.target, ws.file);
  // The folder the pod mounts (podman: as a hostPath, writable) is checked as `up` checks it.
  checkMergedPrivilege({
    file: ws.file, fileSource: planned.fileSource, features, image, imageName: imageRef, merged, mountSource: layout.source,
    runtime: settings.runtime, noNewPrivileges: settings.noNewPrivileges, paths: planned.paths,
  });
  // A pod's workspace never runs as root (runAsNonRoot), whatever revokeSudo says.
  const user = await checkedRemoteUser({ engine, configFile: ws.file, cacheDir: userCheckCache(stateRoot), revokeSudo: true, merged, options }, image, imageRef);
  const lifecycle = lifecycleSteps(merged, ws.file);
  notes.push(...unmappedLifecycle(merged, ws.config));
  if (lifecycle.length) notes.push('note: lifecycle commands run with allowPrivilegeEscalation false: one that needs sudo fails (build what needs root into the image)');
  if ((merged.runArgs ?? []).length) notes.push('note: runArgs are engine flags and are not mapped to the pod');
  if (Array.isArray(ws.config.mounts) && ws.config.mounts.length) notes.push('note: "mounts" are host paths and are not mapped to the pod');
  if (settings.limits.pids > 0) notes.push('note: limits.pids has no per-pod field (a cluster sets it per node: the kubelet\'s podPidsLimit)');

  // Rootless podman on a cgroup v1 host refuses a pod with limits (`up` warns and goes on).
  const resourceLimits = o.target === 'cluster' || limitsEnforceable('podman', true);
  if (!resourceLimits && (settings.limits.cpus || settings.limits.memory)) notes.push(`warning: resource limits are left out of the pod: they are ${LIMITS_NOT_ENFORCED}`);
  const protectedHost = protectedPaths(ws.workspaceFolder, ws.file, layout.source);
  const rel = protectedHost.map((p) => path.relative(layout.source, p).split(path.sep).join('/'));
  const containerEnv = (merged.containerEnv && typeof merged.containerEnv === 'object' ? merged.containerEnv : {}) as Record<string, unknown>;
  const env = Object.fromEntries(Object.entries(containerEnv).filter((e): e is [string, string] => typeof e[1] === 'string'));
  // An image without PATH gets the engines' usual default (docker's and podman's `run` add it; a pod does not).
  if (!image.hasPath && env.PATH === undefined) env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

  let firewall: KubeSpec['firewall'];
  if (planned.policy) {
    let egressImage = o.egressImage;
    let hostNode: { node: string; dist: string } | undefined;
    if (o.target === 'podman') {
      egressImage ??= (await ensureEgressImage(engine, egressImageDir(stateRoot), options, (what) => log(`egress image: ${what}`))).id;
      hostNode = { node: await realpath(process.execPath), dist: await realpath(path.dirname(firewallResolverPath())) };
      // The egress container runs them as root with NET_ADMIN: never from a folder the workspace can write.
      for (const p of Object.values(hostNode)) {
        if (insideWorkspace(p, { workspace: await realpath(layout.source) })) throw new InputError(`hdc runs from ${p}, inside the workspace folder ${layout.source}, which the workspace can write: the pod's egress container would run what it wrote.`, 'install hdc outside the project (npm install -g, or the VS Code extension)');
      }
    } else if (!egressImage) {
      // This machine's build of the self-contained image, by its tag: a cluster pulls by name.
      await ensureEgressImage(engine, egressImageDir(stateRoot), options, (what) => log(`egress image: ${what}`), await selfContainedEgress());
      egressImage = EGRESS_KUBE_IMAGE;
      notes.push(`note: the egress containers run ${EGRESS_KUBE_IMAGE}, built here: push it where the cluster pulls from (${settings.runtime} push ${EGRESS_KUBE_IMAGE} REGISTRY/NAME) and pass --egress-image REGISTRY/NAME, or load it into a local cluster`);
    }
    firewall = { policy: planned.policy, dnsServers: settings.firewall.dnsServers, egressImage, guardScript: await readFile(guardScriptSourcePath(), 'utf8'), hostNode };
  }
  const sidecar: KubeSidecar | undefined = settings.podmanSidecar.enabled ? {
    settings: settings.podmanSidecar,
    runAs: { uid: 1000, gid: 1000 },
    // podman: root of the sidecar's container is the host user (kube play runs rootless), as in `up`.
    fsOwner: o.target === 'podman' ? { uid: 0, gid: 0 } : { uid: 1000, gid: 1000 },
    graphStorageSize: '20Gi',
    hostFiles: o.target === 'podman' ? await writeSidecarHostFiles(settings.podmanSidecar, path.join(stateDir, 'kube', 'sidecar')) : undefined,
  } : undefined;
  const spec: KubeSpec = {
    name, namespace: o.namespace, target: o.target, image: imageRef, user,
    workspaceFolder: layout.target, workingDir: layout.workspaceFolder,
    source: o.target === 'podman' ? { hostPath: layout.source } : { claimSize: o.claimSize },
    protectedPaths: rel, protectedHostPaths: protectedHost,
    env, lifecycle, limits: { cpus: settings.limits.cpus, memory: settings.limits.memory }, resourceLimits,
    firewall, sidecar, lifecycleScript: await readFile(kubeLifecycleScriptPath(), 'utf8'), cilium: o.cilium,
  };
  const objects = kubeObjects(spec);
  const yaml = kubeYaml(objects);
  const network = networkOf(merged.runArgs ?? []);
  return {
    yaml, name, target: o.target, notes,
    objects: objects.map((x) => ({ kind: x.kind, name: x.metadata?.name ?? '' })),
    play: o.target === 'podman' ? ['podman', 'kube', 'play', '--userns', `keep-id:uid=${user.uid},gid=${user.gid}`, ...(network ? ['--network', network] : [])] : undefined,
    ms: Math.round(performance.now() - t0),
  };
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * What the sidecar's settings cannot be in a pod. privileged: the sidecar shares the pod's
 * network namespace there (in `up` it has its own), so a privileged sidecar, or a nested
 * container that anything reaching its socket starts, could remove the workspace's own
 * rules. graphStorage: a claim (cluster) or a volume (podman) of its own, never one of the pod's.
 */
export function checkKubeSidecar(s: Settings['podmanSidecar'], name: string, target: KubeTarget): void {
  if (!s.enabled) return;
  if (s.privileged) {
    throw new InputError('hardenedDevcontainers.podmanSidecar.privileged is on, and in a pod the sidecar shares the workspace\'s network namespace: privileged, it (or a container started through its socket) could remove the pod\'s egress rules.',
      'turn podmanSidecar.privileged off for hdc kube (the rootless sidecar runs nested containers without it)');
  }
  const graph = s.graphStorage;
  if (graph && target === 'cluster' && !DNS_SUBDOMAIN.test(graph)) {
    throw new InputError(`hardenedDevcontainers.podmanSidecar.graphStorage ${JSON.stringify(graph)} is not a claim name (a DNS-1123 subdomain).`, 'use lower-case letters, digits, "-" and "."');
  }
  if (graph && ((graph.startsWith(`${name}-`) && graph !== `${name}-podman-graph`) || /-(hdc-firewall|hdc-lifecycle|workspace|podman-files)$/.test(graph))) {
    throw new InputError(`hardenedDevcontainers.podmanSidecar.graphStorage ${JSON.stringify(graph)} could name one of the pod's own objects, or another workspace's (they are named "${name}-…", "…-hdc-firewall", "…-workspace").`,
      `choose another name, or leave it empty for "${name}-podman-graph"`);
  }
}

/**
 * The workspace's mount point in the pod (devcontainer.json's workspaceMount/workspaceFolder,
 * which the repository chooses) must not be, hold or lie inside one of HDC_WORKSPACE_MOUNTS:
 * the writable source there could stand in for what hdc, the sidecar or the image put there.
 * As written: a symlink of the image's on the way is not followed.
 */
export function checkKubeWorkspaceTarget(target: string, file: string): void {
  const t = path.posix.normalize(target).replace(/\/+$/, '') || '/';
  const clash = HDC_WORKSPACE_MOUNTS.find((p) => t === p || p.startsWith(`${t === '/' ? '' : t}/`) || t.startsWith(`${p}/`));
  if (!path.posix.isAbsolute(t) || clash) {
    throw new InputError(`${file}: the workspace would be mounted at ${JSON.stringify(target)} in the pod, ${clash ? `which is, holds or lies inside ${clash} (hdc's own mounts, the sidecar's and the system's folders)` : 'not an absolute path'}.`,
      'mount the workspace under /workspaces (the devcontainers CLI\'s default), or another folder of its own');
  }
}

/** runArgs' --network (the pod joins it on podman). */
function networkOf(runArgs: string[]): string | undefined {
  for (let i = 0; i < runArgs.length; i++) {
    if (runArgs[i] === '--network' || runArgs[i] === '--net') return runArgs[i + 1];
    const m = /^--net(?:work)?=(.*)$/.exec(runArgs[i]);
    if (m) return m[1];
  }
  return undefined;
}

/** podman: the sidecar's files and the workspace's client config, as files in hdc's state (mounted read-only). */
async function writeSidecarHostFiles(settings: Settings['podmanSidecar'], dir: string): Promise<NonNullable<KubeSidecar['hostFiles']>> {
  const files: { target: string; host: string }[] = [];
  for (const f of sidecarFileTargets(settings)) {
    const host = path.join(dir, f.key);
    await writeIfChanged(host, f.content, 0o644);
    files.push({ target: f.target, host });
  }
  const clientConf = path.join(dir, 'client.conf');
  await writeIfChanged(clientConf, SIDECAR_CLIENT_CONF, 0o644);
  return { files, clientConf };
}
