// The fact stores behind a bound and a circuit breaker (TOLLGATE_MONGODB_TIMEOUT_MS): a read waits
// at most the bound, and once the backend failed or was too slow every call fails at once
// (BackendUnavailableError: the decision answers 503, fail closed) until, after a backoff, one
// probe call answers. Nothing is bounded or broken until the backend first answered, so a process
// started on a slow machine is not refused while its first connections are made.
import { CircuitBreaker, type CircuitBreakerOptions } from "./circuit-breaker.js";
import { BackendUnavailableError, type CollaboratorRole, type DirectoryStore, type Project, type TokenPatch, type TokenRecord, type TokenStore, type User } from "./types.js";

export interface BackendGuardOptions {
  backend: BackendUnavailableError["backend"];
  /** How long a read may take before it fails as unavailable, ms. */
  timeoutMs: number;
  breaker?: CircuitBreakerOptions;
}

export class BackendGuard {
  readonly breaker: CircuitBreaker;
  #answered = false;

  constructor(private readonly options: BackendGuardOptions) {
    this.breaker = new CircuitBreaker(options.breaker);
  }

  /** A read: bounded by timeoutMs (the store call goes on, nobody waits for it). */
  read<T>(op: () => Promise<T>): Promise<T> {
    return this.#run(op, true);
  }

  /**
   * A write: not bounded (a write given up on may still be applied, and then its change would
   * never be announced), but refused at once while the breaker is open.
   */
  write<T>(op: () => Promise<T>): Promise<T> {
    return this.#run(op, false);
  }

  async #run<T>(op: () => Promise<T>, bounded: boolean): Promise<T> {
    if (!this.#answered) {
      const value = await op();
      this.#answered = true;
      return value;
    }
    const pass = this.breaker.acquire();
    if (!pass) throw new BackendUnavailableError(this.options.backend, "circuit open after a failure; waiting for a probe to answer");
    try {
      const value = await (bounded ? this.#bounded(op) : op());
      this.breaker.succeeded(pass);
      return value;
    } catch (err) {
      // Any answer, an error included, shows the backend is there; only unavailability counts.
      if (err instanceof BackendUnavailableError) this.breaker.failed(pass);
      else this.breaker.succeeded(pass);
      throw err;
    }
  }

  #bounded<T>(op: () => Promise<T>): Promise<T> {
    const call = op();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendUnavailableError(this.options.backend, `no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    call.catch(() => undefined); // answered after the bound: nobody is waiting for it
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }
}

export class GuardedTokenStore implements TokenStore {
  constructor(
    private readonly inner: TokenStore,
    private readonly guard: BackendGuard,
  ) {}

  create(record: TokenRecord): Promise<void> {
    return this.guard.write(() => this.inner.create(record));
  }

  findByHash(hash: string): Promise<TokenRecord | null> {
    return this.guard.read(() => this.inner.findByHash(hash));
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.guard.read(() => this.inner.get(id));
  }

  listByUser(userId: string): Promise<TokenRecord[]> {
    return this.guard.read(() => this.inner.listByUser(userId));
  }

  update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    return this.guard.write(() => this.inner.update(id, patch));
  }

  revoke(id: string, at: Date): Promise<boolean> {
    return this.guard.write(() => this.inner.revoke(id, at));
  }

  touch(id: string, at: Date): Promise<void> {
    return this.guard.write(() => this.inner.touch(id, at));
  }
}

export class GuardedDirectoryStore implements DirectoryStore {
  constructor(
    private readonly inner: DirectoryStore,
    private readonly guard: BackendGuard,
  ) {}

  getUser(id: string): Promise<User | null> {
    return this.guard.read(() => this.inner.getUser(id));
  }

  putUser(user: User): Promise<void> {
    return this.guard.write(() => this.inner.putUser(user));
  }

  getProject(id: string): Promise<Project | null> {
    return this.guard.read(() => this.inner.getProject(id));
  }

  putProject(project: Project): Promise<void> {
    return this.guard.write(() => this.inner.putProject(project));
  }

  getCollaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    return this.guard.read(() => this.inner.getCollaboratorRole(projectId, userId));
  }

  getCollaboratorRoles(userId: string, projectIds: readonly string[]): Promise<Map<string, CollaboratorRole>> {
    return this.guard.read(() => this.inner.getCollaboratorRoles(userId, projectIds));
  }

  setCollaborator(projectId: string, userId: string, role: CollaboratorRole): Promise<void> {
    return this.guard.write(() => this.inner.setCollaborator(projectId, userId, role));
  }

  removeCollaborator(projectId: string, userId: string): Promise<boolean> {
    return this.guard.write(() => this.inner.removeCollaborator(projectId, userId));
  }

  listProjectsOf(userId: string): Promise<Array<{ project: Project; role: CollaboratorRole }>> {
    return this.guard.read(() => this.inner.listProjectsOf(userId));
  }
}
