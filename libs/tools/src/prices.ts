import type { ValidateFunction } from 'ajv';
import { ConfigFileError, configAjv, readYamlFile, validateConfig } from './config-file';
import { pricesFileSchema } from './config-schemas';

export interface ModelPrice {
  /** USD per million input (prompt) tokens, decimal string. */
  readonly inputPer1M: string;
  /** USD per million output (completion) tokens, decimal string. */
  readonly outputPer1M: string;
}

export interface PriceTable {
  readonly version: number;
  readonly source: string;
  readonly models: Readonly<Record<string, ModelPrice>>;
}

let fileValidator: ValidateFunction | undefined;

export function createPrices(data: unknown, label = 'prices.yaml'): PriceTable {
  fileValidator ??= configAjv().compile(pricesFileSchema);
  const problems = validateConfig(fileValidator, data, label, (segs) =>
    segs[0] === 'models' && segs.length >= 2 ? { item: `model "${segs[1]}"`, consumed: 2 } : { consumed: 0 },
  );
  if (problems.length > 0) throw new ConfigFileError(label, problems);
  const file = data as { version: number; models: Record<string, ModelPrice> };
  const models: Record<string, ModelPrice> = {};
  for (const [name, p] of Object.entries(file.models)) models[name] = Object.freeze({ inputPer1M: p.inputPer1M, outputPer1M: p.outputPer1M });
  return Object.freeze({ version: file.version, source: label, models: Object.freeze(models) });
}

/** Loads and validates prices.yaml; errors name the file, model and field. */
export function loadPrices(filePath: string): PriceTable {
  return createPrices(readYamlFile(filePath), filePath);
}
