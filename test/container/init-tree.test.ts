// SPDX-License-Identifier: Apache-2.0
// Tests of the in_container_init_tree rule.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inContainerInitTree } from '../../src/container/init-tree.js';

const C = 2286; // the container's v2 cgroup id
const HOST = 1;

test('the init process itself is in its tree', () => {
  assert.equal(inContainerInitTree({ pid: 7270, cgroupId: C }, [{ pid: 7216, cgroupId: HOST }], 7270), true);
});

test('a child and grandchild of init are in the tree', () => {
  const shim = { pid: 7216, cgroupId: HOST };
  const init = { pid: 7270, cgroupId: C };
  assert.equal(inContainerInitTree({ pid: 7300, cgroupId: C }, [init, shim], 7270), true);
  assert.equal(
    inContainerInitTree({ pid: 7301, cgroupId: C }, [{ pid: 7300, cgroupId: C }, init, shim], 7270),
    true,
  );
});

test("an exec'd shell (parent: the shim, outside the container) is not", () => {
  const shim = { pid: 7216, cgroupId: HOST };
  assert.equal(
    inContainerInitTree({ pid: 8000, cgroupId: C }, [shim, { pid: 1, cgroupId: HOST }], 7270),
    false,
  );
  // ... nor anything it starts
  assert.equal(
    inContainerInitTree({ pid: 8001, cgroupId: C }, [{ pid: 8000, cgroupId: C }, shim], 7270),
    false,
  );
});

test('a host process that happens to have the init pid as an ancestor outside the container is not', () => {
  // pid reuse guard: the match must happen before the walk leaves the container
  assert.equal(
    inContainerInitTree(
      { pid: 9000, cgroupId: C },
      [
        { pid: 42, cgroupId: HOST },
        { pid: 7270, cgroupId: HOST },
      ],
      7270,
    ),
    false,
  );
});

test('nested cgroups inside the container count when inContainer says so', () => {
  const inside = new Set([C, C + 1]);
  const anc = [
    { pid: 7400, cgroupId: C + 1 },
    { pid: 7270, cgroupId: C },
  ];
  assert.equal(inContainerInitTree({ pid: 7401, cgroupId: C + 1 }, anc, 7270), false);
  assert.equal(
    inContainerInitTree({ pid: 7401, cgroupId: C + 1 }, anc, 7270, (id) => inside.has(id)),
    true,
  );
});

test('empty ancestry: only the init itself', () => {
  assert.equal(inContainerInitTree({ pid: 5, cgroupId: C }, [], 6), false);
  assert.equal(inContainerInitTree({ pid: 6, cgroupId: C }, [], 6), true);
});
