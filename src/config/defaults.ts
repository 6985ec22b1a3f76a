/**
 * The default allowlist: what a VS Code dev container and the common coding agents need.
 * Every entry is a plain host name (no wildcards: the firewall allows addresses). Kept in
 * sync with package.json by a unit test; the README explains each entry.
 */
export const DEFAULT_ALLOWED_DOMAINS: readonly string[] = Object.freeze([
  // git over HTTPS and SSH, the GitHub API, release archives and raw files
  'github.com',
  'api.github.com',
  'codeload.github.com',
  'objects.githubusercontent.com',
  'raw.githubusercontent.com',
  // the VS Code Server that the Dev Containers extension installs in the container
  'update.code.visualstudio.com',
  'vscode.download.prss.microsoft.com',
  // extensions installed into the container from the Marketplace
  'marketplace.visualstudio.com',
  'gallery.vsassets.io',
  'gallerycdn.vsassets.io',
  // coding agents' model APIs
  'api.anthropic.com',
  'api.openai.com',
  'generativelanguage.googleapis.com',
]);

/**
 * Where verification expects to be refused when nothing is configured: the namespace's
 * default gateway on the discard port. For rootless podman that is slirp4netns's alias of
 * the host's loopback, so even a broken firewall sends nothing off the machine.
 */
export const DEFAULT_BLOCKED_TARGET = 'gateway:9';
