import type { Services } from '../services';

export const showLog = (s: Services) => (): void => s.log.show();
