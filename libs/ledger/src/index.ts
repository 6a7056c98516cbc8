/**
 * @agentplane/ledger — cost accounting derived from the event log: prices, the ledger, the
 * projections (declared once as table specs with commutative merges), their SQL twins, the
 * rebuild from the log and the what-if repricing. See docs/cost.md.
 */
export * from './price-book';
export * from './facts';
export * from './projection';
export * from './sql';
export * from './copy-text';
export * from './guardrail';
export * from './csv';
export * from './rebuild';
export * from './whatif';
