export const ROLES = ['TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: resolved from an API key on every request and every subscribe. */
export interface Principal {
  keyId: string;
  name: string;
  role: Role;
  tenantId: string | null;
}

/** The actor recorded in event metadata: readable, and unambiguous about the key behind it. */
export function actorOf(p: Principal): string {
  const tenant = p.tenantId ? ` tenant=${p.tenantId}` : '';
  return `${p.role}:${p.name} (key ${p.keyId}${tenant})`;
}
