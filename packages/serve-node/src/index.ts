export { createServer, urlOf, ListenError, SERVE_DEFAULTS, DEFAULT_WORKERS, type ServeOptions, type ServeConfig, type RecommendServer, type ReloadResult } from './server.js';
export { MicroBatcher, OverloadError, type BatcherOptions, type BatchRequest } from './batcher.js';
export { loadServedModel, loadServedData, resolveModelPath, ModelLoadError, type ServedModel, type ServedData, type LoadOptions } from './model.js';
export { startPool, type ModelPool, type PoolOptions } from './pool.js';
