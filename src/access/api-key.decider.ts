import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, ConflictError, NotFoundError } from '../messaging/domain-errors';
import { Role, ROLES } from './principal';

export type ApiKeyCommand =
  | { type: 'CreateApiKey'; id: string; hash: string; role: Role; tenantId: string | null; name: string; at: string }
  | { type: 'RevokeApiKey'; id: string; reason: string | null; at: string };

export type ApiKeyEvent =
  | DomainEvent<'ApiKeyCreated', { id: string; hash: string; role: Role; tenantId: string | null; name: string; at: string }>
  | DomainEvent<'ApiKeyRevoked', { id: string; reason: string | null; at: string }>;

export interface ApiKeyState {
  exists: boolean;
  revoked: boolean;
}

export const apiKeyStream = (id: string) => `apikey-${id}`;

/** API keys: only the hash of a key is ever recorded. TENANT keys belong to one tenant; others to none. */
export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyEvent, ApiKeyState> = {
  category: 'apikey',
  initialState: { exists: false, revoked: false },
  decide(command, state) {
    switch (command.type) {
      case 'CreateApiKey': {
        if (state.exists) throw new ConflictError(`API key ${command.id} exists already`);
        if (!ROLES.includes(command.role)) throw new BadInputError('role', `must be one of ${ROLES.join(', ')}`);
        if (command.role === 'TENANT' && !command.tenantId) throw new BadInputError('tenantId', 'a TENANT key needs a tenantId');
        if (command.role !== 'TENANT' && command.tenantId) throw new BadInputError('tenantId', 'only a TENANT key has a tenantId');
        if (!/^[0-9a-f]{64}$/.test(command.hash)) throw new BadInputError('hash', 'must be a hex SHA-256');
        const { type: _t, ...data } = command;
        return [{ type: 'ApiKeyCreated', data }];
      }
      case 'RevokeApiKey': {
        if (!state.exists) throw new NotFoundError(`API key ${command.id} not found`, { keyId: command.id });
        if (state.revoked) return [];
        return [{ type: 'ApiKeyRevoked', data: { id: command.id, reason: command.reason, at: command.at } }];
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'ApiKeyCreated':
        return { exists: true, revoked: false };
      case 'ApiKeyRevoked':
        return { ...state, revoked: true };
      default:
        return state;
    }
  },
};
