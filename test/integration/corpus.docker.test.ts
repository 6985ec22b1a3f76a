import { useDockerDaemon } from '../support/testbed';
import { corpusSuite } from './corpus.shared';

describe('the corpus on docker (the image configs, and Dockerfile builds, without features)', () => {
  useDockerDaemon();
  corpusSuite('docker');
});
