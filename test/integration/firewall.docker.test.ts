import { useDockerDaemon } from '../support/testbed';
import { firewallContract } from './firewall.shared';

describe('firewall on docker', () => {
  useDockerDaemon();
  firewallContract('docker');
});
