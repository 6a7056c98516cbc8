/** Injection token of the tool registry loaded from `<configDir>/tools.yaml`. */
export const TOOL_REGISTRY = Symbol.for('agentplane.executor.tool-registry');
