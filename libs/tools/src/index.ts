export * from './config-schemas';
export { ConfigFileError, readYamlFile, parseYamlText } from './config-file';
export * from './registry';
export * from './tenants';
export * from './prices';
export * from './retry';
export * from './http-invoker';
