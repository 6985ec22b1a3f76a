import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The extension's own folder: the repo when run from source, the unpacked VSIX when
 * installed. Found by walking up to our package.json, so the bundle and the sources agree.
 */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hardened-devcontainers') {
      cachedRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the hardened-devcontainers package root');
    dir = parent;
  }
}

/** The --docker-path shim for podman. */
export const shimPath = (): string => path.join(packageRoot(), 'src', 'shim', 'podman-shim.sh');

/** The devcontainers CLI from our own node_modules: never downloaded at run time. */
export const devcontainerCliPath = (): string => path.join(packageRoot(), 'node_modules', '@devcontainers', 'cli', 'devcontainer.js');

export const packageVersion = (): string =>
  (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

/** The OCI hook script that podman runs on every start of a hardened workspace. */
export const ociHookSourcePath = (): string => path.join(packageRoot(), 'src', 'firewall', 'oci-hook.sh');
/** Sourced by the shim and the OCI hook: waits for the CLI's events follower. */
export const eventsWaitPath = (): string => path.join(packageRoot(), 'src', 'shim', 'events-wait.sh');

/** Sourced by the OCI hook: reads a container's OCI spec back and refuses a weaker one. */
export const privilegeCheckPath = (): string => path.join(packageRoot(), 'src', 'hardening', 'privilege-check.sh');

/** The firewall agent, bundled; run with Node inside the workspace's netns. */
export const firewallAgentPath = (): string => path.join(packageRoot(), 'dist', 'firewall-agent.cjs');
/** The filtering resolver (firewall/resolver.ts), started in each workspace's netns. */
export const firewallResolverPath = (): string => path.join(packageRoot(), 'dist', 'firewall-resolver.cjs');
export const sidecarGatewayPath = (): string => path.join(packageRoot(), 'dist', 'sidecar-gateway.cjs');

/** Entrypoint of the docker guard container that owns a workspace's netns. */
export const guardScriptSourcePath = (): string => path.join(packageRoot(), 'src', 'firewall', 'guard.sh');

/** `hdc kube`'s lifecycle runner, put in the pod's ConfigMap. */
export const kubeLifecycleScriptPath = (): string => path.join(packageRoot(), 'src', 'kube', 'lifecycle.sh');
