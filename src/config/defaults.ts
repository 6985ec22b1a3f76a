/**
 * The presets of hardenedDevcontainers.firewall.presets: names a user switches on instead
 * of typing hosts. The fixed ones (github, vscode and the model APIs) hold lists of our own
 * (src/firewall/presets.ts says why each host is there); the registry ones take their hosts
 * from the configuration that the package tool itself reads (src/ops/presets.ts), never from
 * a list of ours. Kept in sync with package.json's enum by a unit test.
 */
export const FIXED_PRESET_NAMES = ['github', 'vscode', 'anthropic', 'openai', 'gemini'] as const;
export const REGISTRY_PRESET_NAMES = ['npm', 'pypi', 'apt', 'crates', 'go'] as const;
export const PRESET_NAMES = [...FIXED_PRESET_NAMES, ...REGISTRY_PRESET_NAMES] as const;
export type FixedPresetName = (typeof FIXED_PRESET_NAMES)[number];
export type RegistryPresetName = (typeof REGISTRY_PRESET_NAMES)[number];
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * The default allowlist, as presets: what a VS Code dev container and the common coding
 * agents need (git on GitHub, the VS Code Server and Marketplace, the model APIs). The
 * default of allowedDomains is empty: it holds the user's own additions.
 */
export const DEFAULT_PRESETS: readonly PresetName[] = Object.freeze(['github', 'vscode', 'anthropic', 'openai', 'gemini']);

/**
 * Where verification expects to be refused when nothing is configured: the namespace's
 * default gateway on the discard port. For rootless podman that is slirp4netns's alias of
 * the host's loopback, so even a broken firewall sends nothing off the machine.
 */
export const DEFAULT_BLOCKED_TARGET = 'gateway:9';
