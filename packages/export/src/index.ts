export { exportCheckpoint, buildModel, verifyParity, referenceTopK, EXPORT_FORMAT, type ExportOptions, type ExportResult, type ParityReport, type BuiltModel } from './export.js';
export { GraphBuilder, checkModel, OPS, opVersion, ExportError, DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from './graph.js';
export { buildBpr, buildNeuMf, quantize, BUILDERS } from './builders.js';
export { encodeModel, decodeModel } from './proto.js';
export { exportTriton, tritonConfig, toTextFormat, PbEnum, type TritonExportOptions, type TritonExportResult, type TritonConfigOptions, type PbMessage, type PbValue } from './triton.js';
