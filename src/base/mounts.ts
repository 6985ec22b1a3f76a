/** Where the CLI mounts the workspace: `source` on the host appears at `target` inside. */
export interface WorkspaceLayout {
  workspaceFolder: string;
  source: string;
  target: string;
}

/** "type=bind,source=/a,target=/workspaces/a,consistency=cached" → source and target. */
export function parseMount(spec: string): { source?: string; target?: string } {
  const fields = Object.fromEntries(spec.split(',').map((kv) => {
    const at = kv.indexOf('=');
    return at < 0 ? [kv, ''] : [kv.slice(0, at), kv.slice(at + 1)];
  }));
  return { source: fields.source ?? fields.src, target: fields.target ?? fields.destination ?? fields.dst };
}
