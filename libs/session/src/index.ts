export * from './session.decider';
