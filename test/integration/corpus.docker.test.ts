import { useDockerDaemon } from '../support/testbed';
import { corpusSuite } from './corpus.shared';

describe('the corpus on docker (the image configs without features)', () => {
  useDockerDaemon();
  corpusSuite('docker');
});
