export * from './types';
export * from './openai-provider';
export * from './workflow-planner';
export * from './validate-plan';
export * from './micro-batcher';
