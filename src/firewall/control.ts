import { connect } from 'node:net';
import type { ResolverOp } from '../base/protocol';

/**
 * One request to a filtering resolver's control socket: a JSON line out, a JSON line back
 * ({ ok, error?, code?, … }). A failure carries `code`: the socket's (ENOENT,
 * ECONNREFUSED, …) or the resolver's own for a refusal (VERIFY_OTHER_PID).
 */
export function controlRequest<T>(socketPath: string, message: { op: ResolverOp } & Record<string, unknown>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    let text = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    socket.on('connect', () => socket.write(`${JSON.stringify(message)}\n`));
    socket.on('data', (d) => { text += String(d); });
    socket.on('error', (e: NodeJS.ErrnoException) => reject(Object.assign(new Error(`the filtering resolver does not answer (${e.code ?? e.message})`), { code: e.code })));
    socket.on('end', () => {
      let reply: { ok: boolean; error?: string; code?: string };
      try {
        reply = JSON.parse(text) as typeof reply;
      } catch {
        reject(new Error('the filtering resolver gave no answer'));
        return;
      }
      if (reply.ok) resolve(reply as T);
      else reject(Object.assign(new Error(`the filtering resolver refused "${message.op}": ${reply.error}`), { code: reply.code }));
    });
  });
}
