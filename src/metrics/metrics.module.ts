import { Controller, Get, Global, Header, Module, OnApplicationBootstrap } from '@nestjs/common';
import { ProjectionsService } from '../messaging/projections.service';
import { Metrics } from './metrics';

/** `GET /metrics`: Prometheus text format, unauthenticated like the probes (scrape it from inside the network). */
@Controller()
export class MetricsController implements OnApplicationBootstrap {
  constructor(
    private readonly metrics: Metrics,
    private readonly projections: ProjectionsService,
  ) {}

  onApplicationBootstrap(): void {
    this.metrics.setLagSource(async () => (await this.projections.statuses()).map((s) => ({ name: s.name, positions: s.lag.positions, seconds: s.lag.seconds })));
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metricsText(): Promise<string> {
    return this.metrics.text();
  }
}

/** The app's metrics registry, for every context to record into. */
@Global()
@Module({ providers: [{ provide: Metrics, useFactory: () => new Metrics() }], exports: [Metrics] })
export class MetricsModule {}
