import { useDockerDaemon } from '../support/testbed';
import { hardeningContract } from './hardening.shared';

describe('hardening on docker', () => {
  useDockerDaemon();
  hardeningContract('docker');
});
