export { createServer, SERVE_DEFAULTS, type ServeOptions, type RecommendServer } from './server.js';
export { MicroBatcher, OverloadError, type BatcherOptions, type BatchRequest } from './batcher.js';
export { loadServedModel, type ServedModel, type LoadOptions } from './model.js';
