import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { EVENT_STORE, EventStore, StreamNotFoundError } from '../event-store/event-store.port';
import { ProjectionsService } from '../messaging/projections.service';
import { SITE_CONFIG_STREAM, SiteSettings } from './site-settings';

/** Keeps SiteSettings current: from the log at start, then from every committed change (on every instance). */
@Injectable()
export class SiteConfigService implements OnApplicationBootstrap, OnModuleDestroy {
  private subscription: Subscription | null = null;

  constructor(
    readonly settings: SiteSettings,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    private readonly projections: ProjectionsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      const [last] = await this.events.readStream(SITE_CONFIG_STREAM, { direction: 'backwards', maxCount: 1 });
      if (last) this.settings.applyRuntime(Boolean(last.data.autoMachineRepairEnabled), last.metadata.actor, String(last.data.at));
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
    this.subscription = this.projections.committedBy('site_config').subscribe((c) => {
      for (const e of c.events) {
        if (e.type === 'SiteConfigChanged') this.settings.applyRuntime(Boolean(e.data.autoMachineRepairEnabled), e.metadata.actor, String(e.data.at));
      }
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
