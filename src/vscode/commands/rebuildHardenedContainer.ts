import { bringUp } from '../bringUp';
import { currentFolder } from '../config';
import type { Services } from '../services';
import { noFolder } from './util';

export const rebuildHardenedContainer = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  await bringUp(s, folder, true);
};
