// SPDX-License-Identifier: Apache-2.0
// BPF iterators (iter/task, iter/bpf_map...): each read runs the program over the
// kernel objects and returns what it wrote with seq_printf/seq_write.
import { wrapNativeError } from './errors.js';
import type { Link } from './link.js';
import { type IteratorHandle, native } from './native.js';

/** Runs the iterator behind `link` (from attach of an iter/ program, 5.8+) and returns its whole output. */
export function readIterator(link: Link): Buffer {
  const n = native();
  let it: IteratorHandle;
  try {
    it = n.iterOpen(link.handle);
  } catch (e) {
    throw wrapNativeError(e, { op: 'create iterator', program: link.program });
  }
  try {
    return n.iterRead(it);
  } catch (e) {
    throw wrapNativeError(e, { op: 'read iterator', program: link.program });
  } finally {
    n.iterClose(it);
  }
}
