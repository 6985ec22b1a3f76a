import { strict as assert } from 'node:assert';
import type { AgentResult } from '../../src/firewall/agent';
import type { UpResult } from '../../src/ops/up';
import { summarizeUp } from '../../src/ops/upSummary';
import type { HardenedPlan } from '../../src/workspace/plan';

const probe = (target: string, ok: boolean): NonNullable<AgentResult['verify']['blocked']> => ({ target, ok, detail: ok ? 'refused' : 'answered', ms: 3 });
const firewall: AgentResult = {
  dns: { v4: ['10.0.0.53'], v6: [] },
  unresolved: [{ name: 'gone.example', error: 'ENOTFOUND' }], loaded: { v4: 4, v6: 1 },
  verify: { blocked: probe('example.com', true) }, ms: { load: 5, verify: 30 },
};

/** A finished podman up with the firewall and the sidecar, built by hand. */
const result: UpResult = {
  containerId: 'c0ffee', remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app',
  runtime: 'podman', containerName: 'hdc-app-12345678', plan: {} as HardenedPlan,
  warnings: [{ level: 'warning', message: 'podman 4.3 is old', fix: 'upgrade' }], overrideFile: '/state/override.json',
  firewall, presets: [{ name: 'github', hosts: ['github.com', 'api.github.com'], from: 'built in' }, { name: 'npm', hosts: ['registry.example.org'], from: '/ws/.npmrc' }],
  sudo: { ok: true, evidence: 'as vscode: sudo -n true fails (exit 1: no)' }, readOnly: ['/workspaces/app/.devcontainer'],
  notes: ['note: something to know'],
  sidecar: { id: 's1', action: 'created', createdGraph: true, ms: 900, name: 'hdc-app-12345678-podman', socket: '/run/podman/podman.sock', firewall },
  remoteUserIds: { user: 'vscode', uid: 1000, gid: 1000, source: 'image' },
  withheld: [{ cap: 'NET_ADMIN', where: 'runArgs' }, { cap: 'NET_ADMIN', where: 'feature "x"' }, { cap: 'NET_RAW', where: 'runArgs' }],
  steps: [{ step: 'plan', ms: 4 }, { step: 'container', ms: 1200 }],
  editor: { extensions: ['ms-python.python'], settings: {}, forwardPorts: [8080], remoteEnv: {}, postAttachCommands: [] },
};

describe('summarizeUp: what `hdc up --json` prints', () => {
  it('summarizes a hand-built result, in the printed key order', () => {
    const summary = summarizeUp(result);
    assert.deepEqual(summary, {
      outcome: 'success', runtime: 'podman', containerId: 'c0ffee', containerName: 'hdc-app-12345678',
      remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app',
      remoteUserIds: { uid: 1000, gid: 1000, source: 'image' },
      sudo: 'as vscode: sudo -n true fails (exit 1: no)',
      withheld: ['NET_ADMIN', 'NET_RAW'],
      readOnly: ['/workspaces/app/.devcontainer'],
      firewall: { enabled: true, presets: { github: 2, npm: 1 }, resolvers: { v4: ['10.0.0.53'], v6: [] }, loaded: { v4: 4, v6: 1 }, unresolved: ['gone.example'], verify: { blocked: probe('example.com', true) } },
      sidecar: { name: 'hdc-app-12345678-podman', socket: '/run/podman/podman.sock', action: 'created', ms: 900, firewall: { loaded: { v4: 4, v6: 1 }, verify: { blocked: probe('example.com', true) } } },
      warnings: ['podman 4.3 is old', 'note: something to know'],
      editor: { extensions: ['ms-python.python'], settings: {}, forwardPorts: [8080], remoteEnv: {}, postAttachCommands: [] },
      steps: [{ step: 'plan', ms: 4 }, { step: 'container', ms: 1200 }],
    });
    assert.deepEqual(Object.keys(summary), ['outcome', 'runtime', 'containerId', 'containerName', 'remoteUser', 'remoteWorkspaceFolder',
      'remoteUserIds', 'sudo', 'withheld', 'readOnly', 'firewall', 'sidecar', 'warnings', 'editor', 'steps']);
  });

  it('says off for what did not run', () => {
    const summary = summarizeUp({ ...result, firewall: undefined, sudo: undefined, sidecar: { ...result.sidecar!, firewall: undefined } });
    assert.deepEqual([summary.firewall, summary.sudo, summary.sidecar === 'off' ? 'off' : summary.sidecar.firewall], [{ enabled: false }, 'not revoked', 'off']);
    assert.equal(summarizeUp({ ...result, sidecar: undefined }).sidecar, 'off');
  });

  it('leaves the steps out when the result has none', () => {
    assert.ok(!('steps' in summarizeUp({ ...result, steps: undefined } as unknown as UpResult)));
  });
});
