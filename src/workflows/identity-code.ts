/**
 * src/identity for the workflow code, which loads it with a lazy `require('./identity-code')` on the
 * first signed decision instead of importing it at the top (see src/workflows/identity.ts for why).
 * Nothing else may import this module statically, or the saving is gone.
 */
export * from '../identity';
