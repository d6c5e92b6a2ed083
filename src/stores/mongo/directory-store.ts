import type { Collection, Db, Filter } from "mongodb";
import { isValidUserId } from "../../domain.js";
import { isValidId, validateCollaborator, validateProject, validateUser } from "../validate.js";
import { NotFoundError, type CollaboratorRole, type DirectoryStore, type Project, type User } from "../types.js";
import { guard, isDuplicateKey } from "./errors.js";
import {
  COLLECTIONS,
  factCollection,
  fromProjectDoc,
  fromUserDoc,
  toProjectDoc,
  toUserDoc,
  type CollaboratorDoc,
  type ProjectDoc,
  type UserDoc,
} from "./schema.js";

/**
 * Upsert by replacement. Two concurrent upserts of a new key can both try to insert; the unique
 * index rejects one, and retrying once turns it into a plain replace.
 */
async function upsert<T extends object>(collection: Collection<T>, filter: Filter<T>, doc: T): Promise<void> {
  try {
    await collection.replaceOne(filter, doc, { upsert: true });
  } catch (e) {
    if (!isDuplicateKey(e)) throw e;
    await collection.replaceOne(filter, doc, { upsert: true });
  }
}

/** Needs the indexes from ensureIndexes(db). */
export class MongoDirectoryStore implements DirectoryStore {
  private readonly users: Collection<UserDoc>;
  private readonly projects: Collection<ProjectDoc>;
  private readonly collaborators: Collection<CollaboratorDoc>;

  constructor(db: Db) {
    this.users = factCollection<UserDoc>(db, COLLECTIONS.users);
    this.projects = factCollection<ProjectDoc>(db, COLLECTIONS.projects);
    this.collaborators = factCollection<CollaboratorDoc>(db, COLLECTIONS.collaborators);
  }

  async getUser(id: string): Promise<User | null> {
    if (!isValidUserId(id)) return null;
    const doc = await guard("user", () => this.users.findOne({ id }));
    return doc ? fromUserDoc(doc) : null;
  }

  async putUser(user: User): Promise<void> {
    validateUser(user);
    await guard("user", () => upsert(this.users, { id: user.id }, toUserDoc(user)));
  }

  async getProject(id: string): Promise<Project | null> {
    if (!isValidId(id)) return null;
    const doc = await guard("project", () => this.projects.findOne({ id }));
    return doc ? fromProjectDoc(doc) : null;
  }

  async putProject(project: Project): Promise<void> {
    validateProject(project);
    await guard("project", () => upsert(this.projects, { id: project.id }, toProjectDoc(project)));
  }

  async getCollaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return null;
    const doc = await guard("collaborator", () => this.collaborators.findOne({ project_id: projectId, user_id: userId }));
    return doc ? doc.role : null;
  }

  async getCollaboratorRoles(userId: string, projectIds: readonly string[]): Promise<Map<string, CollaboratorRole>> {
    const ids = [...new Set(projectIds.filter(isValidId))];
    if (!isValidId(userId) || ids.length === 0) return new Map();
    const docs = await guard("collaborator", () => this.collaborators.find({ user_id: userId, project_id: { $in: ids } }).toArray());
    return new Map(docs.map((doc) => [doc.project_id, doc.role]));
  }

  async setCollaborator(projectId: string, userId: string, role: CollaboratorRole): Promise<void> {
    validateCollaborator({ project_id: projectId, user_id: userId, role });
    await guard("collaborator", async () => {
      if ((await this.projects.countDocuments({ id: projectId }, { limit: 1 })) === 0) throw new NotFoundError("project", projectId);
      await upsert(this.collaborators, { project_id: projectId, user_id: userId }, { project_id: projectId, user_id: userId, role });
    });
  }

  async removeCollaborator(projectId: string, userId: string): Promise<boolean> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return false;
    const res = await guard("collaborator", () => this.collaborators.deleteOne({ project_id: projectId, user_id: userId }));
    return res.deletedCount === 1;
  }

  async listProjectsOf(userId: string): Promise<Array<{ project: Project; role: CollaboratorRole }>> {
    if (!isValidUserId(userId)) return [];
    return guard("collaborator", async () => {
      const memberships = await this.collaborators.find({ user_id: userId }).toArray();
      if (memberships.length === 0) return [];
      const projects = await this.projects.find({ id: { $in: memberships.map((m) => m.project_id) } }).toArray();
      const byId = new Map(projects.map((p) => [p.id, fromProjectDoc(p)]));
      const out: Array<{ project: Project; role: CollaboratorRole }> = [];
      for (const m of memberships) {
        const project = byId.get(m.project_id);
        if (project) out.push({ project, role: m.role });
      }
      return out.sort((a, b) => (a.project.id < b.project.id ? -1 : a.project.id > b.project.id ? 1 : 0));
    });
  }
}
