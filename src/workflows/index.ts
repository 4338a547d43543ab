// Workflow entry for the worker bundle: every workflow type prograde registers.
export { promoteModel } from './promote';
export { rolloutLock } from './rollout-lock';
