// SPDX-License-Identifier: Apache-2.0
// The whole pack enforcing (every entry's policy, narrowed to a cgroup of this
// test, and the pack's detection rules) while a benign workload runs in that
// cgroup: package-manager file writes, a container-runtime-like private mount,
// reading the runtime binary from a mount namespace, a cgroup v1 hierarchy
// read, user namespaces as root and as nobody. Nothing may be killed, denied
// or alerted on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHandles } from '../../src/kernel/index.js';
import { loadPatchPack, policiesOf } from '../../src/patches/index.js';
import { loadRules } from '../../src/rules/index.js';
import { kernelTest, root, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';
import { labSkipReason, openLab, type PatchLab, runIn, scoped } from './patch-test.js';

const skip = kernelTest.skip || labSkipReason() || false;

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the whole pack enforcing against a benign workload', { skip }, () => {
  let rec: RecordingAgent;
  let lab: PatchLab;

  before(async () => {
    lab = openLab();
    const rulesFile = join(root, 'patches', 'rules.yaml');
    rec = await startAgent({
      policies: [],
      rules: loadRules([{ path: rulesFile, text: readFileSync(rulesFile, 'utf8') }]),
    });
  });

  after(async () => {
    await rec?.stop();
    lab?.close();
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('zero breakage: every benign step exits 0; no kill, deny or pack alert', async () => {
    const pack = loadPatchPack();
    const policies = scoped(policiesOf(pack.entries), lab);
    rec.agent.applyPolicies(policies);
    const names = new Set(policies.map((p) => p.metadata.name));
    const d = lab.dir;
    for (const sub of ['root/usr/bin', 'mnt', 'cg']) mkdirSync(join(d, sub), { recursive: true });
    const steps: Array<[string, string]> = [
      // dpkg's way: unpack beside, rename over, chmod
      [
        'package-manager writes',
        `printf x > ${d}/root/usr/bin/tool.dpkg-new && mv ${d}/root/usr/bin/tool.dpkg-new ${d}/root/usr/bin/tool && chmod 755 ${d}/root/usr/bin/tool && printf y >> ${d}/root/usr/bin/tool`,
      ],
      // a container runtime's private mount with writes inside it
      [
        'private-namespace mount',
        `unshare -m sh -c 'mount -t tmpfs none ${d}/mnt && echo ok > ${d}/mnt/f && cat ${d}/mnt/f >/dev/null'`,
      ],
      // a cgroup v1 hierarchy read from a mount namespace (release_agent read, not written)
      [
        'cgroup v1 read',
        `unshare -m sh -c 'mount -t cgroup -o none,name=pgvpnoise$$ cgroup ${d}/cg && cat ${d}/cg/release_agent ${d}/cg/notify_on_release >/dev/null' || unshare -m true`,
      ],
      ['user namespace as root', 'unshare -r true'],
      ['self exe read', `python3 -c "open('/proc/self/exe','rb').read(16)" || cat /proc/self/exe >/dev/null`],
    ];
    for (const bin of ['/usr/bin/runc', '/usr/sbin/runc']) {
      if (!existsSync(bin)) continue;
      steps.push(['runtime version', `${bin} --version >/dev/null`]);
      steps.push(['runtime binary read from a mount namespace', `unshare -m cat ${bin} >/dev/null`]);
    }
    if (has('setpriv'))
      steps.push([
        'user namespace as nobody',
        'setpriv --reuid=65534 --regid=65534 --clear-groups unshare -r true',
      ]);
    if (has('sudo')) steps.push(['sudo -n true', 'sudo -n true']);
    if (has('pkexec')) steps.push(['pkexec present, not run', 'command -v pkexec >/dev/null']);
    const pids: number[] = [];
    for (const [what, script] of steps) {
      const r = await runIn(lab, '/bin/sh', ['-c', script]);
      pids.push(r.pid);
      assert.equal(r.signal, null, `${what}: killed by ${r.signal}: ${r.stdout}`);
      assert.equal(r.code, 0, `${what}: exit ${r.code}: ${r.stdout}`);
    }
    await sleep(500);
    const acted = rec.events.filter(
      (e) =>
        e.action !== undefined &&
        (names.has(e.policy?.name ?? '') || (e.policy?.names ?? []).some((n) => names.has(n))),
    );
    assert.deepEqual(acted, [], 'an action was taken on the benign workload');
    const alerts = rec.alerts.filter((a) => a.tags.includes('virtual_patch'));
    assert.deepEqual(
      alerts.map((a) => a.output),
      [],
      'a pack detection rule fired on the benign workload',
    );
    const taken = rec.agent
      .policyStatus()
      .filter((p) => names.has(p.name))
      .flatMap((p) => p.rules)
      .reduce((n, r) => n + (r.actions?.taken ?? 0), 0);
    assert.equal(taken, 0);
    rec.agent.applyPolicies([]);
  });
});
