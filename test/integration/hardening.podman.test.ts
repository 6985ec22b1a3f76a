import { requireEngine } from '../support/testbed';
import { hardeningContract } from './hardening.shared';

describe('hardening on rootless podman', () => {
  before(async () => requireEngine('podman'));
  hardeningContract('podman');
});
