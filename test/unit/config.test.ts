import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config';
import { tempDir } from '../support/temp';

describe('config', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  const withFile = (toml: string) => {
    const file = join(dir.path, `site-${Math.random()}.toml`);
    writeFileSync(file, toml);
    return { DRYDOCK_CONFIG: file };
  };
  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('expected a ConfigError');
  };

  it('has defaults when there is no file and no environment', () => {
    const c = loadConfig({}, dir.path);
    expect(c.server.port).toBe(3000);
    expect(c.storage.data_dir).toBe('./data');
    expect(c.auto_machine_repair_plugin.enabled).toBe(true);
    expect(c.file).toBeNull();
  });

  it('reads the TOML file', () => {
    const c = loadConfig(withFile('[server]\nport = 4000\n[auto_machine_repair_plugin]\nenabled = false\n'), dir.path);
    expect(c.server.port).toBe(4000);
    expect(c.auto_machine_repair_plugin.enabled).toBe(false);
    expect(c.sources['auto_machine_repair_plugin.enabled']).toBe('file');
  });

  it('environment variables win over the file', () => {
    const env = { ...withFile('[server]\nport = 4000\n'), PORT: '5000', AUTO_MACHINE_REPAIR_ENABLED: 'false', DATA_DIR: '/tmp/x' };
    const c = loadConfig(env, dir.path);
    expect(c.server.port).toBe(5000);
    expect(c.auto_machine_repair_plugin.enabled).toBe(false);
    expect(c.storage.data_dir).toBe('/tmp/x');
    expect(c.sources['server.port']).toBe('env');
  });

  it('an invalid port names the key and the variable', () => {
    expect(problemsOf(() => loadConfig({ PORT: 'abc' }, dir.path))[0]).toMatch(/^server\.port \(or env PORT\) .*must be an integer/);
    expect(problemsOf(() => loadConfig({ PORT: '70000' }, dir.path))[0]).toMatch(/^server\.port .*between 1 and 65535/);
  });

  it('a non-boolean switch names the key', () => {
    const problems = problemsOf(() => loadConfig(withFile('[auto_machine_repair_plugin]\nenabled = "sometimes"\n'), dir.path));
    expect(problems[0]).toMatch(/^auto_machine_repair_plugin\.enabled .*true or false/);
  });

  it('an unknown key is refused by name, so a typo cannot pass silently', () => {
    const problems = problemsOf(() => loadConfig(withFile('[server]\nprot = 3000\n'), dir.path));
    expect(problems[0]).toMatch(/^server\.prot: unknown key/);
  });

  it('a file that is not TOML says where', () => {
    const problems = problemsOf(() => loadConfig(withFile('[server\nport = 1\n'), dir.path));
    expect(problems[0]).toMatch(/not valid TOML at line 1/);
  });

  it('a named config file that does not exist is an error', () => {
    expect(problemsOf(() => loadConfig({ DRYDOCK_CONFIG: join(dir.path, 'nope.toml') }, dir.path))[0]).toMatch(/does not exist/);
  });

  it('the seal interval: a minute by default, from the file or the environment, 0 for no seals, never negative', () => {
    expect(loadConfig({}, dir.path).event_store.seal_interval_ms).toBe(60_000);
    expect(loadConfig(withFile('[event_store]\nseal_interval_ms = 5000\n'), dir.path).event_store.seal_interval_ms).toBe(5000);
    expect(loadConfig({ EVENTSTORE_SEAL_INTERVAL_MS: '0' }, dir.path).event_store.seal_interval_ms).toBe(0);
    expect(problemsOf(() => loadConfig({ EVENTSTORE_SEAL_INTERVAL_MS: '-1' }, dir.path))[0]).toMatch(/^event_store\.seal_interval_ms \(or env EVENTSTORE_SEAL_INTERVAL_MS\) must be 0 \(no seals\) or more/);
  });

  it('the shipped site.toml sets the seal interval', () => {
    const c = loadConfig({ DRYDOCK_CONFIG: join(__dirname, '../../config/site.toml') }, dir.path);
    expect(c.sources['event_store.seal_interval_ms']).toBe('file');
    expect(c.event_store.seal_interval_ms).toBe(60_000);
  });

  it('an EventStoreDB namespace is checked, and refused without EventStoreDB', () => {
    const esdb = { EVENTSTORE_CONNECTION_STRING: 'esdb://localhost:2113?tls=false' };
    expect(loadConfig({ ...esdb, EVENTSTORE_NAMESPACE: 'staging-2' }, dir.path).event_store.namespace).toBe('staging-2');
    expect(problemsOf(() => loadConfig({ ...esdb, EVENTSTORE_NAMESPACE: 'has/slash' }, dir.path))[0]).toMatch(/^event_store\.namespace \(or env EVENTSTORE_NAMESPACE\) must be 1-64 letters/);
    expect(problemsOf(() => loadConfig({ EVENTSTORE_NAMESPACE: 'staging' }, dir.path))[0]).toMatch(/^event_store\.namespace .*applies to EventStoreDB only/);
  });
});
