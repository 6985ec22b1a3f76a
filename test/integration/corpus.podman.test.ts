import { requireEngine } from '../support/testbed';
import { corpusSuite } from './corpus.shared';

describe('the corpus on rootless podman', () => {
  before(async () => requireEngine('podman'));
  corpusSuite('podman');
});
