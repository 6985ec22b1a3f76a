/** The names of the leak probe (a fresh one per check): hdc's own, never the workspace's doing. */
export const LEAK_PROBE_PREFIX = 'hdc-leak-probe-';

export const isLeakProbe = (name: string): boolean => name.startsWith(LEAK_PROBE_PREFIX) && name.endsWith('.invalid');
