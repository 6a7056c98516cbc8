import {
  Global,
  Inject,
  Injectable,
  Logger as NestLogger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { EventProducer } from '@agentplane/messaging';
import type { ServiceConfig } from '@agentplane/config';
import { createDataSource, initializeDatabase, type EntityList, type MigrationList } from './database';
import { HealthController } from './health.controller';
import { createKafkaClient, type KafkaClient } from './kafka';
import { createLogger, pinoHttpOptions } from './logging';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics';
import { ReadinessRegistry } from './readiness';
import { KAFKA_CLIENT, SERVICE_CONFIG } from './tokens';

export interface PlatformOptions {
  /** This service's TypeORM migrations (classes), run in its schema at boot. */
  migrations?: MigrationList;
  /** TypeORM entities mapped in this service's schema. */
  entities?: EntityList;
  /** Provide a connected `EventProducer` (default true; audit, which emits nothing, may skip it). */
  producer?: boolean;
}

/** Closes what the platform opened, after the consumer drained and HTTP closed (Nest runs
 *  onApplicationShutdown last), so in-flight handlers can still write and publish. */
@Injectable()
class PlatformLifecycle implements OnApplicationShutdown {
  private readonly log = new NestLogger('Platform');
  constructor(
    private readonly dataSource: DataSource,
    @Inject(EventProducer) private readonly producer: EventProducer | null,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.producer) {
      await this.producer.disconnect().catch((err: Error) => this.log.warn(`producer disconnect: ${err.message}`));
    }
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * Everything every service shares: config, JSON logs, health, metrics, the database in the
 * service's schema (migrated before the app listens), the Kafka client and producer.
 *
 * Injectables it provides (global): `SERVICE_CONFIG`, `ReadinessRegistry`, `MetricsService`,
 * `DataSource` (typeorm), `KAFKA_CLIENT`, `EventProducer` (null when `producer: false`),
 * nestjs-pino's `PinoLogger`/`Logger`.
 */
@Global()
@Module({})
export class PlatformModule {
  static forService(config: ServiceConfig, options: PlatformOptions = {}): DynamicModule {
    const providers: Provider[] = [
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: MetricsService, useFactory: () => new MetricsService(config.service) },
      ReadinessRegistry,
      {
        // Async factory: Nest awaits it while building the module graph, so the schema is
        // migrated before any consumer connects or the HTTP server listens.
        provide: DataSource,
        inject: [ReadinessRegistry],
        useFactory: async (readiness: ReadinessRegistry) => {
          const log = new NestLogger('Database');
          const ds = createDataSource(config, options);
          let migrated = false;
          readiness.register('migrations', () => ({ ok: migrated, ...(migrated ? {} : { detail: 'pending' }) }));
          readiness.register('database', async () => {
            if (!ds.isInitialized) return { ok: false, detail: 'not connected' };
            await ds.query('SELECT 1');
            return true;
          });
          await initializeDatabase(ds, config, { info: (m) => log.log(m), warn: (m) => log.warn(m) });
          migrated = true;
          return ds;
        },
      },
      {
        provide: KAFKA_CLIENT,
        useFactory: (): KafkaClient => createKafkaClient(config, createLogger(config)),
      },
      {
        provide: EventProducer,
        inject: [KAFKA_CLIENT, ReadinessRegistry],
        useFactory: async (kafka: KafkaClient, readiness: ReadinessRegistry) => {
          if (options.producer === false) return null;
          const producer = new EventProducer(kafka);
          let connected = false;
          readiness.register('kafka-producer', () => ({ ok: connected, ...(connected ? {} : { detail: 'connecting' }) }));
          await producer.connect();
          connected = true;
          return producer;
        },
      },
      PlatformLifecycle,
    ];
    return {
      module: PlatformModule,
      global: true,
      imports: [LoggerModule.forRoot({ pinoHttp: pinoHttpOptions(config) })],
      controllers: [HealthController, MetricsController],
      providers,
      exports: [SERVICE_CONFIG, MetricsService, ReadinessRegistry, DataSource, KAFKA_CLIENT, EventProducer, LoggerModule],
    };
  }
}
