import type { AppConfig } from '../config/config';
import { Decider, DomainEvent } from '../messaging/decider';

export type SettingSource = 'DEFAULT' | 'FILE' | 'ENV' | 'RUNTIME';

/** The site settings in force, read by sagas synchronously; runtime changes (events) win over env and file. */
export class SiteSettings {
  autoMachineRepairEnabled: boolean;
  source: SettingSource;
  changedBy: string | null = null;
  changedAt: string | null = null;

  constructor(config: AppConfig) {
    this.autoMachineRepairEnabled = config.auto_machine_repair_plugin.enabled;
    const from = config.sources['auto_machine_repair_plugin.enabled'];
    this.source = from === 'env' ? 'ENV' : from === 'file' ? 'FILE' : 'DEFAULT';
  }

  applyRuntime(enabled: boolean, by: string, at: string): void {
    this.autoMachineRepairEnabled = enabled;
    this.source = 'RUNTIME';
    this.changedBy = by;
    this.changedAt = at;
  }
}

export const SITE_CONFIG_STREAM = 'siteconfig-site';

export type SiteConfigCommand = { type: 'SetSiteConfig'; autoMachineRepairEnabled: boolean; at: string };
export type SiteConfigEvent = DomainEvent<'SiteConfigChanged', { autoMachineRepairEnabled: boolean; at: string }>;

export const siteConfigDecider: Decider<SiteConfigCommand, SiteConfigEvent, { autoMachineRepairEnabled: boolean | null }> = {
  category: 'siteconfig',
  initialState: { autoMachineRepairEnabled: null },
  decide: (c, s) => (s.autoMachineRepairEnabled === c.autoMachineRepairEnabled ? [] : [{ type: 'SiteConfigChanged', data: { autoMachineRepairEnabled: c.autoMachineRepairEnabled, at: c.at } }]),
  evolve: (_s, e) => ({ autoMachineRepairEnabled: e.data.autoMachineRepairEnabled }),
};
