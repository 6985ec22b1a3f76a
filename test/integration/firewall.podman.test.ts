import { firewallContract } from './firewall.shared';

describe('firewall on rootless podman', () => firewallContract('podman'));
