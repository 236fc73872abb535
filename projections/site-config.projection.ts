import type { SiteConfigEvent } from '../src/health/site-settings';
import type { Projection } from '../src/messaging/projection';

/** `site_config`: the runtime site settings, one document; every instance hears changes through it. */
export const siteConfigProjection: Projection = {
  name: 'site_config',
  version: 1,
  collections: { site_config: {} },
  handlers: {
    SiteConfigChanged: (e) => {
      const d = e.data as SiteConfigEvent['data'];
      return [
        {
          op: 'updateOne',
          collection: 'site_config',
          filter: { _id: 'site' },
          update: { $set: { autoMachineRepairEnabled: d.autoMachineRepairEnabled, changedBy: e.metadata.actor, changedAt: d.at } },
          upsert: true,
        },
      ];
    },
  },
};
