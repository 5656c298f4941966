export { configSchema, type Config, type LocalConfig } from './schema.js'
export {
  loadConfig,
  parseConfig,
  networkFile,
  deepMerge,
  ConfigError,
  NETWORKS,
  LOCAL_CONFIG_FILE,
  type DeepPartial,
  type LoadConfigOptions,
} from './load.js'
