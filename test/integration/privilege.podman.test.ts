import { requireEngine } from '../support/testbed';
import { privilegeContract } from './privilege.shared';

describe('privilege on rootless podman', () => {
  before(async () => requireEngine('podman'));
  privilegeContract('podman');
});
