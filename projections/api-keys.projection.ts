import type { ApiKeyEvent } from '../src/access/api-key.decider';
import type { Projection } from '../src/messaging/projection';

type Data<T extends ApiKeyEvent['type']> = Extract<ApiKeyEvent, { type: T }>['data'];

/** `api_keys`: the hash, role and tenant of each key, looked up by hash on every request. */
export const apiKeysProjection: Projection = {
  name: 'api_keys',
  version: 1,
  collections: { api_keys: { indexes: [{ field: 'hash', unique: true }] } },
  handlers: {
    ApiKeyCreated: (e) => {
      const d = e.data as Data<'ApiKeyCreated'>;
      return [
        {
          op: 'replaceOne',
          collection: 'api_keys',
          filter: { _id: d.id },
          upsert: true,
          doc: { _id: d.id, id: d.id, hash: d.hash, role: d.role, tenantId: d.tenantId, name: d.name, createdAt: d.at, createdBy: e.metadata.actor, revokedAt: null },
        },
      ];
    },
    ApiKeyRevoked: (e) => {
      const d = e.data as Data<'ApiKeyRevoked'>;
      return [{ op: 'updateOne', collection: 'api_keys', filter: { _id: d.id }, update: { $set: { revokedAt: d.at, revokedBy: e.metadata.actor, revokeReason: d.reason } } }];
    },
  },
};
