import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PinoLogger } from 'nestjs-pino';
import { Subscription } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { CommandPipeline } from '../messaging/command-pipeline';
import { ProjectionsService } from '../messaging/projections.service';
import { logModeChanges, ModeChange, privateDirectory, privateFile, readPrivateFile, writePrivateFile } from '../storage/private-files';
import { apiKeyDecider, apiKeyStream } from './api-key.decider';
import { Principal, Role } from './principal';

export const hashKey = (raw: string) => createHash('sha256').update(raw).digest('hex');
export const generateKey = () => `dd_${randomBytes(32).toString('base64url')}`;

/** What a socket needs to be closed from here. */
export interface ClosableSocket {
  close(code?: number, reason?: string): void;
}

/**
 * Turns an `Authorization: Bearer <key>` into a principal. Keys come from DRYDOCK_ADMIN_KEY,
 * from `auth.keys` in site.toml (as hashes), or from createApiKey (hashed in the log). A key
 * revoked through the API stops working at once, and its open WebSockets are closed.
 */
@Injectable()
export class ApiKeysService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly staticKeys = new Map<string, Principal>();
  private readonly sockets = new Map<string, Set<ClosableSocket>>();
  private revocations: Subscription | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly projections: ProjectionsService,
    // The pipeline itself, not the CommandBus: the bus registers its handlers in a later bootstrap hook.
    private readonly pipeline: CommandPipeline,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('access');
    if (config.auth.admin_key) {
      this.staticKeys.set(hashKey(config.auth.admin_key), { keyId: 'env-admin', name: 'DRYDOCK_ADMIN_KEY', role: 'ADMIN', tenantId: null });
    }
    for (const k of config.auth.keys) {
      this.staticKeys.set(k.sha256, { keyId: `file-${k.name}`, name: k.name, role: k.role as Role, tenantId: k.tenant_id ?? null });
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.secureKeyFile();
    this.revocations = this.projections.committedBy('api_keys').subscribe((c) => {
      for (const e of c.events) if (e.type === 'ApiKeyRevoked') this.closeSockets(String(e.data.id), 4403, 'API key revoked');
    });
    if (this.staticKeys.size > 0 || (await this.activeKeysInLog()) > 0) return;
    if (process.env.NODE_ENV === 'production') {
      throw new Error(
        'refusing to start in production without API keys: set DRYDOCK_ADMIN_KEY, or add auth.keys to config/site.toml',
      );
    }
    await this.createDevelopmentAdminKey();
  }

  onModuleDestroy(): void {
    this.revocations?.unsubscribe();
  }

  /** Counts keys created and not revoked, from the log itself (the read model may still be catching up). */
  private async activeKeysInLog(): Promise<number> {
    const active = new Set<string>();
    let from = 0;
    for (;;) {
      const page = await this.events.readAll({ from, maxCount: 1000, filter: { streamPrefixes: ['apikey-'] } });
      if (page.length === 0) return active.size;
      for (const e of page) (e.type === 'ApiKeyCreated' ? active.add(String(e.data.id)) : active.delete(String(e.data.id)));
      from = page[page.length - 1].position;
    }
  }

  private keyFile(): string {
    return join(this.config.storage.data_dir, 'admin.key');
  }

  /**
   * The development key file, if there is one, tightened at start: 0600 in a 0700 directory (see
   * private-files.ts). A link in its place, dangling or not, stops the start: never followed.
   */
  private secureKeyFile(): void {
    const file = this.keyFile();
    if (lstatSync(file, { throwIfNoEntry: false })) this.logModes([...privateDirectory(dirname(file)), ...privateFile(file)]);
  }

  private logModes(changes: readonly ModeChange[]): void {
    logModeChanges(changes, (details, message) => this.logger.warn(details, message));
  }

  /**
   * Development only: an ADMIN key written to DATA_DIR/admin.key (0600) and printed once, so the
   * quick start stays two commands. A key already in the file (from a run whose log was since
   * replaced) is registered again instead. The file is written before the log records the key, so
   * a key in the log is always one somebody can read; a new file is made with O_EXCL and
   * O_NOFOLLOW, and a link in its place is refused (see private-files.ts).
   */
  private async createDevelopmentAdminKey(): Promise<void> {
    const file = this.keyFile();
    this.logModes(privateDirectory(this.config.storage.data_dir));
    const existing = readPrivateFile(file);
    const kept = existing?.trim() || null;
    const raw = kept ?? generateKey();
    if (!kept) writePrivateFile(file, `${raw}\n`, existing === null ? 'create' : 'replace');
    const id = randomUUID();
    const issuedAt = new Date().toISOString();
    await this.pipeline.run(
      apiKeyDecider,
      apiKeyStream(id),
      { type: 'CreateApiKey', id, hash: hashKey(raw), role: 'ADMIN', tenantId: null, name: 'development admin', at: issuedAt },
      { actor: 'system:bootstrap', correlationId: randomUUID(), requestId: null, issuedAt },
    );
    if (kept) {
      this.logger.warn({ keyFile: file }, 'registered the development ADMIN API key already in the key file (the log had no active key)');
      return;
    }
    this.logger.warn({ keyFile: file }, 'created a development ADMIN API key; it is printed once below and kept in the key file');
    process.stdout.write(`\n  Drydock development ADMIN key (shown once; also in ${file}):\n\n    Authorization: Bearer ${raw}\n\n`);
  }

  /** The principal behind an Authorization header value, or null for no key or an unknown or revoked one. */
  async authenticate(authorization: unknown): Promise<Principal | null> {
    if (typeof authorization !== 'string') return null;
    const m = /^Bearer\s+(\S{1,512})$/i.exec(authorization.trim());
    if (!m) return null;
    const hash = hashKey(m[1]);
    const fixed = this.staticKeys.get(hash);
    if (fixed) return fixed;
    const doc = await this.projections.findOne('api_keys', { hash });
    if (!doc || doc.revokedAt) return null;
    return { keyId: String(doc.id), name: String(doc.name), role: doc.role as Role, tenantId: (doc.tenantId as string | null) ?? null };
  }

  trackSocket(keyId: string, socket: ClosableSocket): void {
    let set = this.sockets.get(keyId);
    if (!set) this.sockets.set(keyId, (set = new Set()));
    set.add(socket);
  }

  untrackSocket(keyId: string, socket: ClosableSocket): void {
    this.sockets.get(keyId)?.delete(socket);
  }

  private closeSockets(keyId: string, code: number, reason: string): void {
    const set = this.sockets.get(keyId);
    if (!set?.size) return;
    this.logger.info({ keyId, sockets: set.size }, 'closing the WebSockets of a revoked key');
    for (const s of set) s.close(code, reason);
    this.sockets.delete(keyId);
  }
}
