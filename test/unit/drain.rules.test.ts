import { chooseTarget, NodeView, planVm, progressMessage } from '../../src/drains/drain.rules';

const node = (name: string, freeMem: number, over: Partial<NodeView> = {}): NodeView => ({
  name,
  capacity: { cpuCores: 64, memoryGiB: 512 },
  used: { cpuCores: 0, memoryGiB: 512 - freeMem },
  inMaintenance: false,
  allocatable: true,
  ...over,
});
const vm = { cpuCores: 4, memoryGiB: 16 };

describe('drain rules: the tag table', () => {
  it.each([
    // tags, mode, allowOffline, expected
    [['always-on'], 'SOFT', false, 'ONLINE'],
    [['always-on'], 'HARD', false, 'ONLINE'],
    [['always-on'], 'HARD', true, 'ONLINE'],
    [['maint-ok'], 'SOFT', false, 'SKIP'],
    [['maint-ok'], 'SOFT', true, 'SKIP'],
    [['maint-ok'], 'HARD', false, 'OFFLINE'],
    [['always-on', 'maint-ok'], 'SOFT', false, 'ONLINE'],
    [['always-on', 'maint-ok'], 'HARD', true, 'ONLINE'],
    [[], 'SOFT', false, 'ONLINE'],
    [[], 'HARD', false, 'ONLINE'],
    [[], 'SOFT', true, 'OFFLINE'],
    [['web', 'tier=gold'], 'HARD', true, 'OFFLINE'],
  ] as const)('tags %j, %s drain, allowOffline %s: %s', (tags, mode, allowOffline, expected) => {
    const plan = planVm(tags, mode, allowOffline);
    expect(plan.action === 'SKIP' ? 'SKIP' : plan.migrationType).toBe(expected);
  });

  it('soft drain skips maint-ok VMs and says why', () => {
    expect(planVm(['maint-ok'], 'SOFT', false)).toEqual({ action: 'SKIP', reason: expect.stringMatching(/maint-ok.*reboots with it/) });
  });
});

describe('drain rules: target selection', () => {
  it('picks the eligible node with the most free memory, then the most free cores, then by name', () => {
    expect(chooseTarget(vm, 'src', [node('src', 500), node('a', 100), node('b', 300), node('c', 200)], null)).toEqual({ target: 'b' });
    const tie = [node('y', 100, { used: { cpuCores: 10, memoryGiB: 412 } }), node('x', 100, { used: { cpuCores: 10, memoryGiB: 412 } }), node('z', 100, { used: { cpuCores: 2, memoryGiB: 412 } })];
    expect(chooseTarget(vm, 'src', tie, null)).toEqual({ target: 'z' });
    expect(chooseTarget(vm, 'src', tie.slice(0, 2), null)).toEqual({ target: 'x' });
  });

  it('never targets the source, a node in maintenance, or a node that is not allocatable', () => {
    const nodes = [node('src', 512), node('m', 400, { inMaintenance: true }), node('n', 300, { allocatable: false }), node('ok', 20)];
    expect(chooseTarget(vm, 'src', nodes, null)).toEqual({ target: 'ok' });
  });

  it('no target: only the source left', () => {
    expect(chooseTarget(vm, 'src', [node('src', 512)], null)).toEqual({ error: 'No suitable target node found: only the source node src is left' });
  });

  it('no target: all other nodes in maintenance', () => {
    expect(chooseTarget(vm, 'src', [node('src', 512), node('a', 512, { inMaintenance: true })], null)).toEqual({
      error: 'No suitable target node found: all other nodes are in maintenance',
    });
  });

  it('no target: no node has the capacity', () => {
    expect(chooseTarget({ cpuCores: 4, memoryGiB: 64 }, 'src', [node('src', 512), node('a', 32), node('b', 63)], null)).toEqual({
      error: 'No suitable target node found: no node has 4 cores and 64 GiB free',
    });
  });

  it('a pinned target must pass the same rules', () => {
    const nodes = [node('src', 512), node('m', 400, { inMaintenance: true }), node('small', 8), node('ok', 100)];
    expect(chooseTarget(vm, 'src', nodes, 'ok')).toEqual({ target: 'ok' });
    expect(chooseTarget(vm, 'src', nodes, 'm')).toEqual({ error: 'No suitable target node found: m is in maintenance' });
    expect(chooseTarget(vm, 'src', nodes, 'src')).toEqual({ error: 'No suitable target node found: src is the source node' });
    expect(chooseTarget(vm, 'src', nodes, 'small')).toMatchObject({ error: expect.stringMatching(/small has 64 cores \/ 8 GiB free/) });
    expect(chooseTarget(vm, 'src', nodes, 'nope')).toEqual({ error: 'No suitable target node found: nope is not a hypervisor node' });
  });
});

describe('drain rules: progress', () => {
  const c = { totalVMs: 15, completedVMs: 8, failedVMs: 0, skippedVMs: 0, inFlight: 2 };
  it('reads Progress: 8/15 completed while running', () => {
    expect(progressMessage(c, 'IN_PROGRESS', null)).toBe('Progress: 8/15 completed, 2 in flight');
    expect(progressMessage({ ...c, inFlight: 0 }, 'IN_PROGRESS', null)).toBe('Progress: 8/15 completed');
  });
  it('ends with a summary and the reason', () => {
    expect(progressMessage({ ...c, completedVMs: 12, skippedVMs: 2, failedVMs: 1, inFlight: 0 }, 'FAILED', 'VM 7: No suitable target node found')).toBe(
      'Failed: 12/15 completed, 2 skipped, 1 failed. VM 7: No suitable target node found',
    );
  });
});
