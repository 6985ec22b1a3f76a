/** Command ids and context keys, typed so that a typo does not compile. */
export type CommandId =
  | 'hardenedDevcontainers.reopenInHardenedContainer'
  | 'hardenedDevcontainers.rebuildHardenedContainer'
  | 'hardenedDevcontainers.stopHardenedContainer'
  | 'hardenedDevcontainers.allowDomain'
  | 'hardenedDevcontainers.showHardeningReport'
  | 'hardenedDevcontainers.showLog'
  | 'hardenedDevcontainers.toggleRuntime';

export type ContextKey = 'hardenedDevcontainers.hasDevcontainer' | 'hardenedDevcontainers.state';

export const DEV_CONTAINERS_EXTENSION = 'ms-vscode-remote.remote-containers';
