import { InputError } from '../base/errors';

export interface UserIds {
  user: string;
  uid: number;
  gid: number;
  /** How the ids were found, for the log: from the image's files, or numeric in the config. */
  source: 'image' | 'numeric';
}

/** remoteUser, then containerUser, then the image's USER, then root: the CLI's own order. */
export function pickRemoteUser(config: { remoteUser?: string; containerUser?: string }, imageUser: string | undefined): string {
  return config.remoteUser || config.containerUser || imageUser || 'root';
}

/**
 * Resolves "name", "uid", "name:group" or "uid:gid" against an image's /etc/passwd and
 * /etc/group. Returns undefined when the name is not in the files.
 */
export function resolveUserIds(spec: string, passwd: string, group: string): UserIds | undefined {
  const [userPart, groupPart] = spec.split(':', 2);
  const users = parseColonFile(passwd);
  const byName = users.find((f) => f[0] === userPart);
  const uidNumber = /^\d+$/.test(userPart) ? Number(userPart) : undefined;
  const entry = byName ?? (uidNumber !== undefined ? users.find((f) => Number(f[2]) === uidNumber) : undefined);
  const uid = entry ? Number(entry[2]) : uidNumber;
  if (uid === undefined || Number.isNaN(uid)) return undefined;
  let gid = entry ? Number(entry[3]) : uid;
  if (groupPart) {
    const g = parseColonFile(group).find((f) => f[0] === groupPart);
    gid = g ? Number(g[2]) : /^\d+$/.test(groupPart) ? Number(groupPart) : Number.NaN;
    if (Number.isNaN(gid)) return undefined;
  }
  return { user: entry?.[0] ?? userPart, uid, gid, source: entry ? 'image' : 'numeric' };
}

/** Numeric "uid[:gid]" needs no image lookup. */
export function numericIds(spec: string): UserIds | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(spec);
  return m ? { user: spec, uid: Number(m[1]), gid: Number(m[2] ?? m[1]), source: 'numeric' } : undefined;
}

function parseColonFile(content: string): string[][] {
  return content.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

export function checkUserName(user: string, file: string): void {
  if (!/^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$/.test(user)) {
    throw new InputError(`${file}: remote user ${JSON.stringify(user)} is not a valid user name.`);
  }
}
