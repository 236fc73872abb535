import 'reflect-metadata';
import { createApp, listen } from './app/create-app';
import { bootLogger } from './app/logging';
import { AppConfig, ConfigError, loadConfig } from './config/config';

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    const log = bootLogger();
    log.fatal(err instanceof ConfigError ? err.message : `cannot load the configuration: ${(err as Error).message}`);
    log.flush();
    process.exit(1);
  }
  try {
    const app = await createApp(config);
    await listen(app, config);
  } catch (err) {
    const log = bootLogger(config);
    log.fatal({ err }, `Drydock did not start: ${(err as Error).message}`);
    log.flush();
    process.exit(1);
  }
}

void main();
