import { isValidUserId } from "../../domain.js";
import { isValidId, validateCollaborator, validateProject, validateUser } from "../validate.js";
import { NotFoundError, type CollaboratorRole, type DirectoryStore, type Project, type User } from "../types.js";

export class MemoryDirectoryStore implements DirectoryStore {
  private readonly users = new Map<string, User>();
  private readonly projects = new Map<string, Project>();
  /** project id → user id → role */
  private readonly collaborators = new Map<string, Map<string, CollaboratorRole>>();

  async getUser(id: string): Promise<User | null> {
    const u = isValidUserId(id) ? this.users.get(id) : undefined;
    return u === undefined ? null : { ...u };
  }

  async putUser(user: User): Promise<void> {
    validateUser(user);
    this.users.set(user.id, { id: user.id, system_role: user.system_role });
  }

  async getProject(id: string): Promise<Project | null> {
    const p = isValidId(id) ? this.projects.get(id) : undefined;
    return p === undefined ? null : { ...p };
  }

  async putProject(project: Project): Promise<void> {
    validateProject(project);
    this.projects.set(project.id, { id: project.id, name: project.name, public: project.public });
  }

  async getCollaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return null;
    return this.collaborators.get(projectId)?.get(userId) ?? null;
  }

  async getCollaboratorRoles(userId: string, projectIds: readonly string[]): Promise<Map<string, CollaboratorRole>> {
    const roles = new Map<string, CollaboratorRole>();
    if (!isValidId(userId)) return roles;
    for (const projectId of projectIds) {
      const role = isValidId(projectId) ? this.collaborators.get(projectId)?.get(userId) : undefined;
      if (role !== undefined) roles.set(projectId, role);
    }
    return roles;
  }

  async setCollaborator(projectId: string, userId: string, role: CollaboratorRole): Promise<void> {
    validateCollaborator({ project_id: projectId, user_id: userId, role });
    if (!this.projects.has(projectId)) throw new NotFoundError("project", projectId);
    let members = this.collaborators.get(projectId);
    if (members === undefined) this.collaborators.set(projectId, (members = new Map()));
    members.set(userId, role);
  }

  async removeCollaborator(projectId: string, userId: string): Promise<boolean> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return false;
    return this.collaborators.get(projectId)?.delete(userId) ?? false;
  }

  async listProjectsOf(userId: string): Promise<Array<{ project: Project; role: CollaboratorRole }>> {
    if (!isValidUserId(userId)) return [];
    const out: Array<{ project: Project; role: CollaboratorRole }> = [];
    for (const [projectId, members] of this.collaborators) {
      const role = members.get(userId);
      const project = this.projects.get(projectId);
      if (role !== undefined && project !== undefined) out.push({ project: { ...project }, role });
    }
    return out.sort((a, b) => (a.project.id < b.project.id ? -1 : a.project.id > b.project.id ? 1 : 0));
  }
}
