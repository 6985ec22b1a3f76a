import { useDockerDaemon } from '../support/testbed';
import { privilegeContract } from './privilege.shared';

describe('privilege on docker', () => {
  useDockerDaemon();
  privilegeContract('docker');
});
