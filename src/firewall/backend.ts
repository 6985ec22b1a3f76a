import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { HdcError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import type { AgentRequest, AgentResult } from './agent';
import { GUARD_RESOLVER_SOCKET, resolverSocket, type FirewallRole } from '../base/protocol';

/** What ops ask of the agent; the backend adds where the resolver answers. */
export type AgentCall = Omit<AgentRequest, 'resolver'>;
import { cutOffFromGuard, dockerAgentCall, ensureGuard, guardImageId, guardWorkspaceArgs, isGuardedWorkspace, splitNetworkArgs } from './dockerGuard';
import { workspaceLabels } from '../base/labels';
import { agentCall, firewallRunArgs, rootlessUserNs } from './podmanHook';
import type { VerifyAsk } from './resolver';
import { checkVerification } from './firewall';

/** One engine's way of putting the firewall in place and of reaching the workspace's netns. */
export interface FirewallBackend {
  /** Before the workspace exists: returns our runArgs and what stays of the user's runArgs. */
  prepare(options: RunOptions): Promise<{ hardening: string[]; userRunArgs: string[] }>;
  /**
   * Runs the agent in the workspace's (or its sidecar's) network namespace, from outside it;
   * the backend says where that container's filtering resolver answers.
   */
  agent(containerId: string, request: AgentCall, options: RunOptions, pid?: number, role?: FirewallRole): Promise<AgentResult>;
  /** After a failed up: removes what prepare created. */
  discard(options: RunOptions): Promise<void>;
}

export interface BackendContext {
  firewallDir: string;
  workspaceFolder: string;
  configFile: string;
  userRunArgs: string[] | undefined;
  guardImageSetting: string;
  /** Hears what a first build of hdc's egress image (the docker guard's) is doing. */
  progress?: (what: string) => void;
  /** Where the egress image's id is recorded and the image is built (hdc's state, per user). */
  egressDir?: string;
  /** The workspace container's name; the guard is named after it. */
  containerName: string;
  /** hardenedDevcontainers.firewall.dnsServers: the upstream the resolver asks ([] = the engine's). */
  dnsServers?: string[];
  /**
   * podman, right after a start seen through the hook: the checks run by the filtering
   * resolver the hook started (verifyThroughResolver; passed in, as the runner is). Absent:
   * the agent always checks.
   */
  verifyInResolver?: (dir: string, role: FirewallRole, ask: VerifyAsk) => Promise<AgentResult>;
}

/** `--dns` for each configured upstream server: hdc's own flags, never the workspace's. */
export const dnsRunArgs = (servers: string[] = []): string[] => servers.flatMap((s) => ['--dns', s]);

export const guardNameFor = (containerName: string): string => `${containerName}-fw`;

export function firewallBackend(engine: EngineClient, ctx: BackendContext): FirewallBackend {
  if (engine.runtime === 'podman') {
    return {
      // The hook is installed by up before this (it runs on every podman start).
      async prepare() {
        return { hardening: [...firewallRunArgs(ctx.firewallDir), ...dnsRunArgs(ctx.dnsServers)], userRunArgs: ctx.userRunArgs ?? [] };
      },
      async agent(containerId, call, options, knownPid, role = 'workspace') {
        const request: AgentRequest = { ...call, resolver: { dir: ctx.firewallDir, socket: resolverSocket(role) } };
        const [container, userNs] = await Promise.all([
          knownPid ? { running: true, pid: knownPid } : run(engine.containerInspect(containerId), options),
          rootlessUserNs(),
        ]);
        if (!container?.running || !container.pid) throw new HdcError(`The container ${containerId.slice(0, 12)} is not running.`);
        // Right after the hook's load: the resolver it started verifies, in its own process.
        // Its result counts only if it passes; otherwise (or no answer) the agent checks again.
        if (ctx.verifyInResolver && call.loadedAtStart && knownPid && !call.dryRun && !call.blockedOnly && call.lookup === undefined) {
          const verified = await ctx.verifyInResolver(ctx.firewallDir, role, { pid: knownPid, policy: call.policy, verify: call.verify })
            .then((result) => {
              checkVerification(result, call);
              return result;
            })
            .catch((e: Error) => {
              options.log?.(`firewall: not verified by the filtering resolver (${e.message}); the agent checks in the netns`);
              return undefined;
            });
          if (verified) return { ...verified, verifiedBy: 'resolver' };
        }
        return run(agentCall(engine, container.pid, request, userNs), options);
      },
      async discard() {},
    };
  }
  const guard = guardNameFor(ctx.containerName);
  let created = false;
  return {
    async prepare(options) {
      const { guard: userNetworkArgs, workspace } = splitNetworkArgs(ctx.userRunArgs);
      const networkArgs = [...userNetworkArgs, ...dnsRunArgs(ctx.dnsServers)];
      const image = await guardImageId(engine, ctx.guardImageSetting, ctx.egressDir ?? path.join(path.dirname(ctx.firewallDir), 'egress-image'), options, ctx.progress);
      ({ created } = await ensureGuard(engine, { name: guard, image, firewallDir: ctx.firewallDir, workspaceFolder: ctx.workspaceFolder, networkArgs }, options));
      // A workspace left in the namespace of the guard's earlier run (the guard restarted
      // since) has no network: stopped, so that this up starts it in the guard's namespace.
      const [ws, g] = await Promise.all([run(engine.containerInspect(ctx.containerName), options), run(engine.containerInspect(guard), options)]);
      if (ws && g && isGuardedWorkspace(ws, workspaceLabels(ctx.workspaceFolder, ctx.configFile), g) && cutOffFromGuard(ws, g)) {
        ctx.progress?.(`the workspace was cut off from its firewall guard's network namespace (the guard restarted after it): restarting it`);
        await run(engine.stopContainer(ws.id), options);
      }
      return { hardening: guardWorkspaceArgs(guard), userRunArgs: workspace };
    },
    async agent(_containerId, call, options) {
      const request: AgentRequest = { ...call, resolver: { dir: '/hdc-firewall', socket: GUARD_RESOLVER_SOCKET } };
      return run(dockerAgentCall(engine, guard, request), options);
    },
    async discard(options) {
      if (created) await run(engine.removeContainer(guard), options).catch(() => undefined);
    },
  };
}
