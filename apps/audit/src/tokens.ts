export const AUDIT_SETTINGS = Symbol('AUDIT_SETTINGS');
