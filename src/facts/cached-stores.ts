// Write-through decorators: reads of decision facts are cached, every write goes to the store and
// then invalidates this process's cache and publishes the change, so no caller can forget to.
import { isValidUserId } from "../domain.js";
import { isUnavailable } from "../errors.js";
import { isValidHash, isValidId } from "../stores/validate.js";
import type { CollaboratorRole, DirectoryStore, Project, TokenPatch, TokenRecord, TokenStore, User } from "../stores/types.js";
import type { FactCache } from "./fact-cache.js";
import { collaboratorChangeId, type ChangeEvent, type ChangeKind } from "./invalidation.js";

export const factKey = (kind: ChangeKind, id: string): string => `${kind}\u0000${id}`;

/** Invalidates locally at once, then tells every other process. */
export type ChangeSink = (event: ChangeEvent) => void;

export class CachedTokenStore implements TokenStore {
  constructor(
    private readonly inner: TokenStore,
    private readonly cache: FactCache,
    private readonly changed: ChangeSink,
  ) {}

  /**
   * Cached by hash; a token not found is not remembered (another replica may create it a moment
   * later). A revocation this process heard of stands, whatever the store answers.
   */
  findByHash(hash: string): Promise<TokenRecord | null> {
    if (!isValidHash(hash)) return this.inner.findByHash(hash);
    const key = factKey("token", hash);
    return this.cache.read("token", key, async () => revokedAsHeard(await this.inner.findByHash(hash), this.cache.revokedAt(key)), (record) => record !== null);
  }

  create(record: TokenRecord): Promise<void> {
    return this.inner.create(record);
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.inner.get(id);
  }

  listByUser(userId: string): Promise<TokenRecord[]> {
    return this.inner.listByUser(userId);
  }

  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    // The cache is keyed by hash, which never changes: read it first, so that a write whose
    // outcome is unknown can still be announced.
    const before = await this.inner.get(id);
    const updated = await writeThrough(() => this.inner.update(id, patch), () => before && this.changed({ kind: "token", id: before.hash }));
    if (updated) this.changed({ kind: "token", id: updated.hash });
    return updated;
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const before = await this.inner.get(id);
    // Unknown outcome: announced as a change (a cache miss everywhere), not as a revocation.
    const revoked = await writeThrough(() => this.inner.revoke(id, at), () => before && this.changed({ kind: "token", id: before.hash }));
    const hash = before?.hash ?? (revoked ? (await this.inner.get(id))?.hash : undefined);
    if (revoked && hash) this.changed({ kind: "token", id: hash, revoked: true });
    return revoked;
  }

  /** last_used_at is bookkeeping, not a decision fact: no invalidation. */
  touch(id: string, at: Date): Promise<void> {
    return this.inner.touch(id, at);
  }
}

/**
 * Runs a store write. When the backend failed (BackendUnavailableError) the write may have been
 * applied all the same (the reply was lost, or came after the caller gave up): `unknown()`
 * announces the change anyway, which costs at most a cache miss. Any other error means nothing
 * was written.
 */
async function writeThrough<T>(write: () => Promise<T>, unknown: () => void): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (isUnavailable(err)) unknown();
    throw err;
  }
}

/** The record with `revokedAt` if this process heard of a revocation the store does not show (yet). */
export function revokedAsHeard(record: TokenRecord | null, revokedAt: Date | null): TokenRecord | null {
  if (record === null || revokedAt === null || record.revoked_at !== null) return record;
  return { ...record, revoked_at: revokedAt };
}

export class CachedDirectoryStore implements DirectoryStore {
  constructor(
    private readonly inner: DirectoryStore,
    private readonly cache: FactCache,
    private readonly changed: ChangeSink,
  ) {}

  // An id outside the stores' alphabet names nothing: absent, without a lookup and never cached,
  // so ids from request paths (any length, any bytes) can neither fill the cache nor cost a read.
  getUser(id: string): Promise<User | null> {
    if (!isValidUserId(id)) return Promise.resolve(null);
    return this.cache.read("user", factKey("user", id), () => this.inner.getUser(id));
  }

  async putUser(user: User): Promise<void> {
    const event: ChangeEvent = { kind: "user", id: user.id };
    await writeThrough(() => this.inner.putUser(user), () => this.changed(event));
    this.changed(event);
  }

  getProject(id: string): Promise<Project | null> {
    if (!isValidId(id)) return Promise.resolve(null);
    return this.cache.read("project", factKey("project", id), () => this.inner.getProject(id));
  }

  async putProject(project: Project): Promise<void> {
    const event: ChangeEvent = { kind: "project", id: project.id };
    await writeThrough(() => this.inner.putProject(project), () => this.changed(event));
    this.changed(event);
  }

  getCollaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return Promise.resolve(null);
    const key = factKey("collaborator", collaboratorChangeId(projectId, userId));
    return this.cache.read("collaborator", key, () => this.inner.getCollaboratorRole(projectId, userId));
  }

  /** Cached entries as getCollaboratorRole() keeps them, the rest in one store read. */
  async getCollaboratorRoles(userId: string, projectIds: readonly string[]): Promise<Map<string, CollaboratorRole>> {
    const roles = new Map<string, CollaboratorRole>();
    if (!isValidUserId(userId)) return roles;
    const missing: string[] = [];
    for (const projectId of new Set(projectIds.filter(isValidId))) {
      const cached = this.cache.peek("collaborator", factKey("collaborator", collaboratorChangeId(projectId, userId)));
      if (!cached) missing.push(projectId);
      else if (cached.value !== null) roles.set(projectId, cached.value as CollaboratorRole);
    }
    if (missing.length === 0) return roles;
    const ticket = this.cache.ticket();
    const found = await this.inner.getCollaboratorRoles(userId, missing);
    for (const projectId of missing) {
      const role = found.get(projectId) ?? null;
      if (role) roles.set(projectId, role);
      this.cache.fill(factKey("collaborator", collaboratorChangeId(projectId, userId)), ticket, role);
    }
    return roles;
  }

  async setCollaborator(projectId: string, userId: string, role: CollaboratorRole): Promise<void> {
    const event: ChangeEvent = { kind: "collaborator", id: collaboratorChangeId(projectId, userId) };
    await writeThrough(() => this.inner.setCollaborator(projectId, userId, role), () => this.changed(event));
    this.changed(event);
  }

  async removeCollaborator(projectId: string, userId: string): Promise<boolean> {
    const event: ChangeEvent = { kind: "collaborator", id: collaboratorChangeId(projectId, userId) };
    const removed = await writeThrough(() => this.inner.removeCollaborator(projectId, userId), () => this.changed(event));
    if (removed) this.changed(event);
    return removed;
  }

  listProjectsOf(userId: string): Promise<Array<{ project: Project; role: CollaboratorRole }>> {
    return this.inner.listProjectsOf(userId);
  }
}
