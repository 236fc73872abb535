/** The outside systems that provision an instance: the database service and the deployer. */
export const PROVISIONING_PROVIDER = Symbol('PROVISIONING_PROVIDER');

export interface ProvisioningRequest {
  instanceId: string;
  tenantId: string;
  machineId: string;
  dbType: 'shared' | 'dedicated';
  attempt: number;
  /** The machine's labels: the simulated provider reads its `sim.*` test script from them. */
  labels: Record<string, string>;
}

export interface DatabaseCredentials {
  databaseId: string;
  host: string;
  port: number;
  username: string;
  password: string;
}

/**
 * Every call honours `signal`. `allocateDatabase` is idempotent per instance: asking again
 * returns the same database (`created: false`). Credentials are never stored by Drydock;
 * they are fetched from here when someone with the right to see them asks.
 */
export interface ProvisioningProvider {
  allocateDatabase(r: ProvisioningRequest, signal: AbortSignal): Promise<{ databaseId: string; created: boolean }>;
  deploy(r: ProvisioningRequest & { databaseId: string }, signal: AbortSignal): Promise<{ deploymentId: string }>;
  isReady(r: ProvisioningRequest, signal: AbortSignal): Promise<boolean>;
  removeDeployment(r: ProvisioningRequest, signal: AbortSignal): Promise<void>;
  credentials(databaseId: string, signal: AbortSignal): Promise<DatabaseCredentials>;
}
