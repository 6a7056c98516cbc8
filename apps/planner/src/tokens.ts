export const PLANNER_ENGINE = Symbol.for('agentplane.PlannerEngine');
export const PLANNER_SETTINGS = Symbol.for('agentplane.PlannerSettings');
export const QUALITY_MONITOR = Symbol.for('agentplane.planner.QualityMonitor');
