/**
 * Every label and annotation hdc puts on a container, and the devcontainers CLI's own that
 * hdc reads. The one place they are spelled: the shell scripts that match them (the OCI
 * hook's `when` in podmanHook.ts) take them from here.
 */

/** On every container hdc creates, next to the devcontainers CLI's own labels. */
export const LABELS = {
  managed: 'hardened-devcontainers.managed',
  remoteUser: 'hardened-devcontainers.remote-user',
  runtime: 'hardened-devcontainers.runtime',
  /** docker: the guard container that owns a workspace's netns (value: the workspace folder). */
  guardFor: 'hardened-devcontainers.guard-for',
  /** The Podman sidecar (value: the workspace folder). */
  sidecarFor: 'hardened-devcontainers.sidecar-for',
  /** The sidecar's workspace config file. */
  sidecarConfig: 'hardened-devcontainers.sidecar-config',
  /** A hash of the sidecar's run arguments: a changed spec recreates it. */
  sidecarSpec: 'hardened-devcontainers.sidecar-spec',
} as const;

/** The devcontainers CLI's own: it finds "its" container by the first two. */
export const CLI_LABELS = {
  localFolder: 'devcontainer.local_folder',
  configFile: 'devcontainer.config_file',
  /** On images (and containers): the merged devcontainer.json entries, as JSON. */
  metadata: 'devcontainer.metadata',
} as const;

/** podman OCI annotations that the hook matches. */
export const ANNOTATIONS = {
  /** Marks a hardened container and names its firewall directory (the hook runs for it). */
  firewall: 'dev.hardened-devcontainers.firewall',
  /**
   * "workspace" or "sidecar" (same firewall directory: the sidecar's start is not the
   * workspace's "started", and its privilege is hdc's own). Set by hdc last, on both.
   */
  role: 'dev.hardened-devcontainers.role',
} as const;

/** Labels that identify this workspace's container, exactly as the CLI writes them. */
export function workspaceLabels(workspaceFolder: string, configFile: string): Record<string, string> {
  return { [CLI_LABELS.localFolder]: workspaceFolder, [CLI_LABELS.configFile]: configFile };
}
