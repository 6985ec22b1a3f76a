/**
 * Every command handler, by name: the name is also the command id's suffix and the module's
 * file name (see COMMANDS in ../ids.ts). Only commandsEntry.ts imports this at run time.
 */
export { allowDomain } from './allowDomain';
export { rebuildHardenedContainer } from './rebuildHardenedContainer';
export { reopenInHardenedContainer } from './reopenInHardenedContainer';
export { showHardeningReport } from './showHardeningReport';
export { showLog } from './showLog';
export { stopHardenedContainer } from './stopHardenedContainer';
export { toggleRuntime } from './toggleRuntime';
export { allowBlocked, allowBlockedParent, denyRule, refreshView } from './viewActions';
