export { configSchema, genesisSchema, type Config, type LocalConfig, type GenesisConfig } from './schema.js'
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
