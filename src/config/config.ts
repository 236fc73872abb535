import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { plainToInstance, Type } from 'class-transformer';
import {
  IsNumber,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateNested,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { parse as parseToml, TomlError } from 'smol-toml';

/**
 * The one configuration object. Property names are the keys of `config/site.toml`,
 * so every error names the key an operator has to fix.
 */
class ServerConfig {
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 65535' })
  @Max(65535, { message: 'must be between 1 and 65535' })
  port = 3000;
}

class StorageConfig {
  @IsString({ message: 'must be a path' })
  @MinLength(1, { message: 'must not be empty' })
  data_dir = './data';

  /**
   * How long the integrity check of the embedded stores (PRAGMA quick_check of events.db and
   * read.db) may take at start-up; past it the app starts unchecked and says so. 0: no check at start.
   */
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 600000' })
  @Max(600_000, { message: 'must be between 0 and 600000' })
  integrity_check_timeout_ms = 10_000;
}

class EventStoreConfig {
  @IsOptional()
  @IsString({ message: 'must be an esdb:// connection string' })
  connection_string?: string;

  @IsBoolean({ message: 'must be true or false' })
  group_commit = true;

  /**
   * EventStoreDB only: this installation's streams live under `<namespace>/` on the server, and
   * it reads only those, so several installations (staging beside CI, a benchmark's stores) can
   * share one server. Unset: the whole of `$all` is this installation's.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
  namespace?: string;

  /**
   * How often the log is sealed: a seal event records the head of every stream that moved since
   * the last one, so that verifyLog finds a stream cut short or removed after it. One instance
   * seals at a time (under a lease), and once more as it stops cleanly. 0: no seals.
   */
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be 0 (no seals) or more' })
  seal_interval_ms = 60_000;
}

class ReadStoreConfig {
  @IsOptional()
  @IsString({ message: 'must be a mongodb:// URI' })
  mongodb_uri?: string;

  /** The embedded read store applies its writes on a thread of its own, beside the event loop. */
  @IsBoolean({ message: 'must be true or false' })
  writer_thread = true;
}

class CommandsConfig {
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 100' })
  @Max(100, { message: 'must be between 0 and 100' })
  max_conflict_retries = 8;
}

class ProjectionsConfig {
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  batch_size = 500;

  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 60000' })
  @Max(60_000, { message: 'must be between 0 and 60000' })
  max_wait_ms = 0;

  /** How long a projection's or saga's lease lasts unrenewed: the longest a crashed holder's work waits for another instance (a crash on the same host is seen at once). */
  @IsInt({ message: 'must be an integer' })
  @Min(300, { message: 'must be between 300 and 600000' })
  @Max(600_000, { message: 'must be between 300 and 600000' })
  lease_ttl_ms = 10_000;
}

class StaticKeyConfig {
  @IsString({ message: 'must be a name' })
  @MinLength(1, { message: 'must not be empty' })
  name!: string;

  @IsIn(['TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN'], { message: 'must be TENANT, REPAIR_TENANT, OPERATOR, AUDITOR or ADMIN' })
  role!: string;

  @IsOptional()
  @IsString({ message: 'must be a tenant id' })
  tenant_id?: string;

  @Matches(/^[0-9a-f]{64}$/, { message: 'must be the hex SHA-256 of the key (never the key itself)' })
  sha256!: string;
}

class AuthConfig {
  /** From DRYDOCK_ADMIN_KEY only (a secret has no place in site.toml): an ADMIN key for bootstrap. */
  @IsOptional()
  @IsString({ message: 'must be a key' })
  @MinLength(16, { message: 'must be at least 16 characters' })
  admin_key?: string;

  @ValidateNested({ each: true })
  @Type(() => StaticKeyConfig)
  keys: StaticKeyConfig[] = [];
}

class GraphqlConfig {
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 120000' })
  @Max(120_000, { message: 'must be between 0 and 120000' })
  read_your_writes_timeout_ms = 5000;

  @IsBoolean({ message: 'must be true or false' })
  ide = true;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 50' })
  @Max(50, { message: 'must be between 1 and 50' })
  max_depth = 12;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 10000000' })
  @Max(10_000_000, { message: 'must be between 1 and 10000000' })
  max_cost = 20_000;

  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 1000' })
  @Max(1000, { message: 'must be between 0 and 1000' })
  max_aliases = 15;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100' })
  @Max(100, { message: 'must be between 1 and 100' })
  max_root_fields = 10;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 1000000' })
  @Max(1_000_000, { message: 'must be between 1 and 1000000' })
  rate_limit_per_minute = 1200;

  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 1000' })
  @Max(1000, { message: 'must be between 0 and 1000' })
  max_directives = 20;

  @IsInt({ message: 'must be an integer' })
  @Min(100, { message: 'must be between 100 and 100000' })
  @Max(100_000, { message: 'must be between 100 and 100000' })
  max_tokens = 5000;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 1000000' })
  @Max(1_000_000, { message: 'must be between 1 and 1000000' })
  rate_limit_unauthenticated_per_minute = 60;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 10000' })
  @Max(10_000, { message: 'must be between 1 and 10000' })
  max_subscriptions_per_socket = 32;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  max_subscriptions_per_key = 256;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  subscription_queue_limit = 1000;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  max_sockets_per_key = 64;

  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 10000' })
  @Max(10_000, { message: 'must be between 1 and 10000' })
  max_fields_per_selection = 100;

  @Matches(/^\d+(b|kb|mb)$/, { message: 'must be a size such as 512kb or 1mb' })
  body_limit = '1mb';
}

class OperationsConfig {
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) simulated_stage_delay_ms = 20;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 20' }) @Max(20, { message: 'must be between 1 and 20' }) max_attempts = 3;
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) retry_backoff_ms = 200;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) backoff_factor = 2;
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) max_backoff_ms = 10_000;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) stage_timeout_ms = 600_000;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 10000' }) @Max(10_000, { message: 'must be between 1 and 10000' }) max_concurrent = 256;
}

class DrainsConfig {
  /** How long the simulated provider (the default) takes per migration; a VM's `sim.migrate-ms=N` tag overrides it. */
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) simulated_migration_delay_ms = 50;
  /** A migration that takes longer fails with a timeout. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) migration_timeout_ms = 600_000;
  /** Migrations at once for a parallel drain when the request does not say. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 64' }) @Max(64, { message: 'must be between 1 and 64' }) default_max_concurrent = 3;
}

class ProvisioningConfig {
  /** A deployment not ready within this long fails the attempt (ERROR / FAILED, the deployment removed). */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) ready_timeout_ms = 30_000;
  /** How often readiness is asked while waiting. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) ready_poll_ms = 200;
  /** A provider call (allocate, deploy) that takes longer fails the attempt. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) step_timeout_ms = 120_000;
}

class HealthConfig {
  /** Probe machines and VMs. Off: no probes, no orphan detection, no automatic recovery. */
  @IsBoolean({ message: 'must be true or false' }) enabled = true;
  @IsInt({ message: 'must be an integer' }) @Min(10, { message: 'must be at least 10' }) interval_ms = 15_000;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) probe_timeout_ms = 3_000;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) failure_threshold = 3;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) recovery_threshold = 2;
  /** A VM failing this many probes in a row is an orphan (a gone process or a failing socket is one sooner). */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) orphan_after_failures = 6;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 1000' }) @Max(1000, { message: 'must be between 1 and 1000' }) max_concurrent_probes = 32;
}

class RecoveryConfig {
  /** Recover unhealthy machines and orphaned VMs. Off: nothing recovers, and triggerRecovery is refused. */
  @IsBoolean({ message: 'must be true or false' }) enabled = true;
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) retry_interval_ms = 5_000;
  @IsNumber({}, { message: 'must be a number' }) @Min(1, { message: 'must be at least 1' }) backoff_factor = 2;
  @IsInt({ message: 'must be an integer' }) @Min(0, { message: 'must be at least 0' }) max_retry_interval_ms = 300_000;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 100' }) @Max(100, { message: 'must be between 1 and 100' }) max_retries = 5;
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) recovery_timeout_ms = 120_000;
  /** Recovery attempts running at once. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be between 1 and 1000' }) @Max(1000, { message: 'must be between 1 and 1000' }) max_concurrent = 5;
  /** Storm control: pause automatic recovery when more than this share of the fleet is unhealthy... */
  @IsNumber({}, { message: 'must be a number' }) @Min(0, { message: 'must be between 0 and 1' }) @Max(1, { message: 'must be between 0 and 1' }) storm_unhealthy_share = 0.3;
  /** ...and at least this many targets are. */
  @IsInt({ message: 'must be an integer' }) @Min(1, { message: 'must be at least 1' }) storm_min_unhealthy = 3;
}

class AutoMachineRepairConfig {
  @IsBoolean({ message: 'must be true or false' })
  enabled = true;

  /** An issue reported within this many hours of a completed repair counts as a repeat. */
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be at least 0' })
  repeat_window_hours = 168;

  /** More repeats than this take the machine out for repair (OUT_FOR_REPAIR) and stop automatic repair. */
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be at least 0' })
  max_repeats = 2;
}

class LogConfig {
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    message: 'must be one of fatal, error, warn, info, debug, trace, silent',
  })
  level = 'info';

  @IsBoolean({ message: 'must be true or false' })
  pretty = false;
}

export class AppConfig {
  @ValidateNested() @Type(() => ServerConfig) server = new ServerConfig();
  @ValidateNested() @Type(() => StorageConfig) storage = new StorageConfig();
  @ValidateNested() @Type(() => EventStoreConfig) event_store = new EventStoreConfig();
  @ValidateNested() @Type(() => ReadStoreConfig) read_store = new ReadStoreConfig();
  @ValidateNested() @Type(() => CommandsConfig) commands = new CommandsConfig();
  @ValidateNested() @Type(() => ProjectionsConfig) projections = new ProjectionsConfig();
  @ValidateNested() @Type(() => GraphqlConfig) graphql = new GraphqlConfig();
  @ValidateNested() @Type(() => AuthConfig) auth = new AuthConfig();
  @ValidateNested() @Type(() => OperationsConfig) operations = new OperationsConfig();
  @ValidateNested() @Type(() => DrainsConfig) drains = new DrainsConfig();
  @ValidateNested() @Type(() => ProvisioningConfig) provisioning = new ProvisioningConfig();
  @ValidateNested() @Type(() => HealthConfig) health = new HealthConfig();
  @ValidateNested() @Type(() => RecoveryConfig) recovery = new RecoveryConfig();
  @ValidateNested() @Type(() => AutoMachineRepairConfig) auto_machine_repair_plugin = new AutoMachineRepairConfig();
  @ValidateNested() @Type(() => LogConfig) log = new LogConfig();

  /** Where each key's value came from: `default`, `file` or `env`. */
  @IsOptional()
  sources: Record<string, 'default' | 'file' | 'env'> = {};
  /** The TOML file that was read, if any. */
  @IsOptional()
  file: string | null = null;
}

type EnvKind = 'int' | 'float' | 'bool' | 'string';
/** Environment variables win over the file. */
const ENV: ReadonlyArray<[env: string, key: string, kind: EnvKind]> = [
  ['PORT', 'server.port', 'int'],
  ['DATA_DIR', 'storage.data_dir', 'string'],
  ['STORAGE_INTEGRITY_CHECK_TIMEOUT_MS', 'storage.integrity_check_timeout_ms', 'int'],
  ['EVENTSTORE_CONNECTION_STRING', 'event_store.connection_string', 'string'],
  ['EVENTSTORE_GROUP_COMMIT', 'event_store.group_commit', 'bool'],
  ['EVENTSTORE_NAMESPACE', 'event_store.namespace', 'string'],
  ['EVENTSTORE_SEAL_INTERVAL_MS', 'event_store.seal_interval_ms', 'int'],
  ['MONGODB_URI', 'read_store.mongodb_uri', 'string'],
  ['READ_STORE_WRITER_THREAD', 'read_store.writer_thread', 'bool'],
  ['AUTO_MACHINE_REPAIR_ENABLED', 'auto_machine_repair_plugin.enabled', 'bool'],
  ['AUTO_MACHINE_REPAIR_MAX_REPEATS', 'auto_machine_repair_plugin.max_repeats', 'int'],
  ['LOG_LEVEL', 'log.level', 'string'],
  ['PROJECTION_BATCH_SIZE', 'projections.batch_size', 'int'],
  ['PROJECTION_MAX_WAIT_MS', 'projections.max_wait_ms', 'int'],
  ['RUNNER_LEASE_TTL_MS', 'projections.lease_ttl_ms', 'int'],
  ['READ_YOUR_WRITES_TIMEOUT_MS', 'graphql.read_your_writes_timeout_ms', 'int'],
  ['GRAPHQL_IDE', 'graphql.ide', 'bool'],
  ['DRYDOCK_ADMIN_KEY', 'auth.admin_key', 'string'],
  ['OPERATIONS_STAGE_DELAY_MS', 'operations.simulated_stage_delay_ms', 'int'],
  ['OPERATIONS_MAX_ATTEMPTS', 'operations.max_attempts', 'int'],
  ['OPERATIONS_RETRY_BACKOFF_MS', 'operations.retry_backoff_ms', 'int'],
  ['OPERATIONS_STAGE_TIMEOUT_MS', 'operations.stage_timeout_ms', 'int'],
  ['DRAINS_MIGRATION_DELAY_MS', 'drains.simulated_migration_delay_ms', 'int'],
  ['DRAINS_MIGRATION_TIMEOUT_MS', 'drains.migration_timeout_ms', 'int'],
  ['PROVISIONING_READY_TIMEOUT_MS', 'provisioning.ready_timeout_ms', 'int'],
  ['PROVISIONING_READY_POLL_MS', 'provisioning.ready_poll_ms', 'int'],
  ['HEALTH_ENABLED', 'health.enabled', 'bool'],
  ['HEALTH_INTERVAL_MS', 'health.interval_ms', 'int'],
  ['HEALTH_PROBE_TIMEOUT_MS', 'health.probe_timeout_ms', 'int'],
  ['HEALTH_FAILURE_THRESHOLD', 'health.failure_threshold', 'int'],
  ['HEALTH_RECOVERY_THRESHOLD', 'health.recovery_threshold', 'int'],
  ['RECOVERY_ENABLED', 'recovery.enabled', 'bool'],
  ['RECOVERY_RETRY_INTERVAL_MS', 'recovery.retry_interval_ms', 'int'],
  ['RECOVERY_MAX_RETRIES', 'recovery.max_retries', 'int'],
  ['RECOVERY_MAX_CONCURRENT', 'recovery.max_concurrent', 'int'],
  ['RECOVERY_STORM_UNHEALTHY_SHARE', 'recovery.storm_unhealthy_share', 'float'],
  ['RECOVERY_STORM_MIN_UNHEALTHY', 'recovery.storm_min_unhealthy', 'int'],
  ['GRAPHQL_RATE_LIMIT_PER_MINUTE', 'graphql.rate_limit_per_minute', 'int'],
  ['GRAPHQL_MAX_COST', 'graphql.max_cost', 'int'],
  ['GRAPHQL_MAX_DEPTH', 'graphql.max_depth', 'int'],
  ['GRAPHQL_MAX_ALIASES', 'graphql.max_aliases', 'int'],
  ['GRAPHQL_MAX_ROOT_FIELDS', 'graphql.max_root_fields', 'int'],
  ['GRAPHQL_MAX_DIRECTIVES', 'graphql.max_directives', 'int'],
  ['GRAPHQL_MAX_TOKENS', 'graphql.max_tokens', 'int'],
  ['GRAPHQL_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE', 'graphql.rate_limit_unauthenticated_per_minute', 'int'],
  ['GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET', 'graphql.max_subscriptions_per_socket', 'int'],
  ['GRAPHQL_MAX_SUBSCRIPTIONS_PER_KEY', 'graphql.max_subscriptions_per_key', 'int'],
  ['GRAPHQL_SUBSCRIPTION_QUEUE_LIMIT', 'graphql.subscription_queue_limit', 'int'],
  ['GRAPHQL_MAX_SOCKETS_PER_KEY', 'graphql.max_sockets_per_key', 'int'],
  ['GRAPHQL_MAX_FIELDS_PER_SELECTION', 'graphql.max_fields_per_selection', 'int'],
  ['GRAPHQL_BODY_LIMIT', 'graphql.body_limit', 'string'],
  ['LOG_PRETTY', 'log.pretty', 'bool'],
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function coerce(raw: string, kind: EnvKind): unknown {
  if (kind === 'int') return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (kind === 'float') return /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
  if (kind === 'bool') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    return raw;
  }
  return raw;
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const key = prefix ? `${prefix}.${e.property}` : e.property;
    const messages = [...new Set(Object.values(e.constraints ?? {}))];
    const env = ENV.find(([, k]) => k === key)?.[0];
    const where = env ? ` (or env ${env})` : '';
    const own = messages.some((m) => m.startsWith('property '))
      ? [`${key}: unknown key; remove it or check its spelling`]
      : messages.length
        ? [`${key}${where} ${messages.reverse().join(' and ')}${key === 'auth.admin_key' ? '' : `, got ${JSON.stringify(e.value)}`}`]
        : [];
    return [...own, ...flatten(e.children ?? [], key)];
  });
}

/**
 * Loads `config/site.toml` (or the file named by DRYDOCK_CONFIG), applies environment
 * variables over it, and validates the result. Throws ConfigError naming every bad key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AppConfig {
  const explicit = env.DRYDOCK_CONFIG;
  const file = resolve(cwd, explicit ?? 'config/site.toml');
  let raw: Record<string, unknown> = {};
  const sources: AppConfig['sources'] = {};
  if (existsSync(file)) {
    try {
      raw = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      const where = err instanceof TomlError ? ` at line ${err.line}, column ${err.column}` : '';
      throw new ConfigError([`${file}: not valid TOML${where}: ${(err as Error).message.split('\n')[0]}`]);
    }
    for (const [section, values] of Object.entries(raw)) {
      if (values && typeof values === 'object') {
        for (const k of Object.keys(values)) sources[`${section}.${k}`] = 'file';
      }
    }
  } else if (explicit) {
    throw new ConfigError([`DRYDOCK_CONFIG names ${file}, which does not exist`]);
  }

  for (const [name, key, kind] of ENV) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const [section, prop] = key.split('.');
    const target = (raw[section] ??= {}) as Record<string, unknown>;
    target[prop] = coerce(value, kind);
    sources[key] = 'env';
  }

  delete raw.sources;
  delete raw.file;
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true });
  const problems = flatten(errors);
  if (config.event_store?.namespace && !config.event_store.connection_string) {
    problems.push('event_store.namespace (or env EVENTSTORE_NAMESPACE) applies to EventStoreDB only: set event_store.connection_string too (the embedded log is one file per storage.data_dir)');
  }
  if (problems.length) throw new ConfigError(problems);
  config.sources = sources;
  config.file = existsSync(file) ? file : null;
  return config;
}
