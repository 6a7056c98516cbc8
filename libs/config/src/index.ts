export * from './config';
export * from './planner';
export * from './gateway';
export * from './audit';
