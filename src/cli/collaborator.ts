// tollgate collaborator set | remove: the directory store, as PUT/DELETE
// /v1/admin/projects/{id}/collaborators/{user} use it.
import { adminChange } from "../audit/admin.js";
import { withContext } from "./context.js";
import { named, runtimeError, type FieldNamer } from "./errors.js";
import { print, printJson } from "./output.js";
import { collaboratorRole, id, userId } from "./schemas.js";

export const collaboratorFields: FieldNamer = (field) => ({ project_id: "PROJECT", user_id: "USER", role: "ROLE" })[field] ?? field;

function ids(project: string, user: string): { projectId: string; userId: string } {
  try {
    return { projectId: id(project, "project_id"), userId: userId(user, "user_id") };
  } catch (err) {
    throw named(err, collaboratorFields);
  }
}

export async function setCollaborator(project: string, user: string, role: string, opts: { json?: boolean }): Promise<void> {
  const { projectId, userId } = ids(project, user);
  let checked;
  try {
    checked = collaboratorRole(role);
  } catch (err) {
    throw named(err, collaboratorFields);
  }
  await withContext(async ({ facts, audited }) => {
    const before = await facts.directoryStore.getCollaboratorRole(projectId, userId).catch(() => null);
    try {
      await facts.directoryStore.setCollaborator(projectId, userId, checked);
    } catch (err) {
      throw named(err, collaboratorFields);
    }
    audited(adminChange.collaboratorSet(projectId, userId));
    if (opts.json) printJson({ project_id: projectId, user_id: userId, role: checked, previous_role: before });
    else print(`${userId} is ${checked} of ${projectId}${before && before !== checked ? ` (was ${before})` : ""}`);
  });
}

export async function removeCollaborator(project: string, user: string, opts: { json?: boolean }): Promise<void> {
  const { projectId, userId } = ids(project, user);
  await withContext(async ({ facts, audited }) => {
    const removed = await facts.directoryStore.removeCollaborator(projectId, userId);
    if (!removed) throw runtimeError(`${userId} is not a collaborator of ${projectId}`);
    audited(adminChange.collaboratorRemove(projectId, userId));
    if (opts.json) printJson({ project_id: projectId, user_id: userId, removed: true });
    else print(`${userId} is no longer a collaborator of ${projectId}`);
  });
}
