/** @agentplane/audit — tamper evidence (hash chains, Merkle proofs, signed checkpoints), the store, replay and verification. */
export * from './canonical';
export * from './chain';
export * from './merkle';
export * from './checkpoint';
export * from './replay';
export * from './store';
export * from './verify';
export * from './kafka-log';
export * from './synthetic';
