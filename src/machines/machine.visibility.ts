import type { Principal } from '../access/principal';
import { Query } from 'mingo';
import type { Doc, Filter } from '../read-store/read-store.port';

/**
 * Which machines a caller may see. A tenant sees only the machines behind its own instances;
 * a repair tenant only those carrying `repair-request`; everyone else all of them. What a
 * caller may not see does not exist for it (NOT_FOUND, never FORBIDDEN).
 */
export function visibleMachines(p: Principal | null): Filter {
  if (!p) return { _id: { $in: [] } };
  if (p.role === 'TENANT') return { tenantId: p.tenantId };
  if (p.role === 'REPAIR_TENANT') return { $or: [{ 'healthOverrides.source': 'repair-request' }, { tenantId: repairTenantOf(p) }] };
  return {};
}

/** The same rule, for a document already in hand (subscriptions). */
export function canSee(p: Principal | null, machine: Doc): boolean {
  const rule = visibleMachines(p);
  return Object.keys(rule).length === 0 || new Query(rule).test(machine);
}

/** The tenant id a repair tenant's instances carry. */
export function repairTenantOf(p: Principal): string {
  return `repair:${p.keyId}`;
}
