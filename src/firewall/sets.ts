/**
 * Names inside a workspace's network namespace that the rules (policy.ts), the hook, the
 * agent and the resolver share. A module of constants only: the resolver's bundle, which
 * starts on every workspace start, imports it without the policy's validation.
 */

/** Set names inside the workspace netns. The rules only ever refer to these. */
export const SETS = {
  allow4: 'hdc-allow4',
  allow6: 'hdc-allow6',
  dns4: 'hdc-dns4',
  dns6: 'hdc-dns6',
  /** Addresses from allowed answers, each with its TTL (the resolver fills them). */
  dyn4: 'hdc-dyn4',
  dyn6: 'hdc-dyn6',
} as const;

/** xt_recent lists that record refused destinations, for the blocked log (read by the resolver). */
export const RECENT_LISTS = { v4: 'hdc-blocked4', v6: 'hdc-blocked6' } as const;

/** The longest an admitted address stays in a dyn set (the resolver clamps TTLs to it). */
export const DYN_TIMEOUT_MAX = 86_400;

/** Source ports that only the resolver can bind (ip_unprivileged_port_start is 1024 in the netns). */
export const PRIVILEGED_PORTS = '1:1023';
export const UNPRIVILEGED_PORTS = '1024:65535';
export const UNPRIVILEGED_PORT_START = 1024;
