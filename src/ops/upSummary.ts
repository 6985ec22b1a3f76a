import type { AgentResult } from '../firewall/agent';
import type { SidecarUp } from '../sidecar/sidecar';
import type { UserIds } from '../workspace/remoteUser';
import type { UpResult } from './up';

/** One timed step of an up, when the result carries them. */
export interface UpStepTime {
  step: string;
  ms: number;
}

/** What `hdc up --json` prints (and `hdc up`, indented): the hardened container and what held. */
export interface UpSummary {
  outcome: 'success';
  runtime: UpResult['runtime'];
  containerId: string;
  containerName: string;
  remoteUser: string;
  remoteWorkspaceFolder: string;
  remoteUserIds: Pick<UserIds, 'uid' | 'gid' | 'source'>;
  /** The revocation's evidence, or 'not revoked' (hardenedDevcontainers.revokeSudo = false). */
  sudo: string;
  /** Capabilities the config asked for and hdc withheld, each once. */
  withheld: string[];
  /** The paths laid read-only over the workspace mount. */
  readOnly: string[];
  /** With the firewall: each preset that was on, and how many hosts it contributed. */
  firewall:
    | { enabled: true; presets: Record<string, number>; resolvers: AgentResult['dns']; loaded: AgentResult['loaded']; unresolved: string[]; verify: AgentResult['verify'] }
    | { enabled: false };
  sidecar:
    | { name: string; socket: string; action: SidecarUp['action']; ms: number; firewall: { loaded: AgentResult['loaded']; verify: AgentResult['verify'] } | 'off' }
    | 'off';
  /** Preflight's warnings, then up's notes. */
  warnings: string[];
  /** For an editor that attaches: customizations.vscode (extensions, settings), forwardPorts, remoteEnv, postAttachCommands, as the CLI merged them. */
  editor: UpResult['editor'];
  /** How long each step took, when up timed them. */
  steps?: UpStepTime[];
}

/** The summary of a finished up; the key order is the printed order. */
export function summarizeUp(result: UpResult): UpSummary {
  const { steps } = result;
  return {
    outcome: 'success', runtime: result.runtime, containerId: result.containerId, containerName: result.containerName,
    remoteUser: result.remoteUser, remoteWorkspaceFolder: result.remoteWorkspaceFolder,
    remoteUserIds: { uid: result.remoteUserIds.uid, gid: result.remoteUserIds.gid, source: result.remoteUserIds.source },
    sudo: result.sudo ? result.sudo.evidence : 'not revoked',
    withheld: [...new Set(result.withheld.map((w) => w.cap))],
    readOnly: result.readOnly,
    firewall: result.firewall
      ? { enabled: true, presets: Object.fromEntries((result.presets ?? []).map((p) => [p.name, p.hosts.length])), resolvers: result.firewall.dns, loaded: result.firewall.loaded, unresolved: result.firewall.unresolved.map((u) => u.name), verify: result.firewall.verify }
      : { enabled: false },
    sidecar: result.sidecar
      ? {
        name: result.sidecar.name, socket: result.sidecar.socket, action: result.sidecar.action, ms: result.sidecar.ms,
        firewall: result.sidecar.firewall ? { loaded: result.sidecar.firewall.loaded, verify: result.sidecar.firewall.verify } : 'off',
      }
      : 'off',
    warnings: [...result.warnings.map((w) => w.message), ...result.notes],
    editor: result.editor,
    ...(steps ? { steps } : {}),
  };
}
