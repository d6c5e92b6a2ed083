export * from "./types.js";
export {
  validateAuditRecord,
  normalizeAuditRecord,
  stripQuery,
  checkAuditFilter,
  checkRetentionDays,
  compareNewestFirst,
  AUDIT_PATH_MAX,
  type CheckedAuditFilter,
} from "./validate.js";
export { auditRecordFromDecision, type AuditContext } from "./record.js";
export { MemoryAudit, DEFAULT_MEMORY_CAPACITY, type MemoryAuditOptions } from "./memory.js";
export { MongoAuditSink, type MongoAuditSinkOptions, type AuditInsertTarget, type AuditSinkStats } from "./mongo/sink.js";
export { MongoAuditStore, type MongoAuditStoreOptions } from "./mongo/store.js";
export { ensureAuditIndexes, AUDIT_COLLECTION, type EnsureAuditIndexesResult } from "./mongo/schema.js";
export { startAuditPruning, type AuditPruning, type AuditPruningOptions } from "./prune.js";
