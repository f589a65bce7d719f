// SPDX-License-Identifier: Apache-2.0
// A Link keeps one program attached to its hook until close() (or unpin after pin()).
import { wrapNativeError } from './errors.js';
import { type LinkHandle, native } from './native.js';

export class Link {
  readonly program: string;
  #handle: LinkHandle | undefined;
  #pinnedAt: string | undefined;

  /** @internal made by BpfObject.attach */
  constructor(handle: LinkHandle, program: string) {
    this.#handle = handle;
    this.program = program;
  }

  /** @internal */
  get handle(): LinkHandle {
    if (!this.#handle) throw new Error(`use link ${this.program}: link is closed`);
    return this.#handle;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  get fd(): number {
    return native().linkFd(this.handle);
  }

  /** Pins the link in bpffs so the attachment survives this process (until unpin). */
  pin(path: string): void {
    try {
      native().linkPin(this.handle, path);
      this.#pinnedAt = path;
    } catch (e) {
      throw wrapNativeError(e, { op: 'pin link', program: this.program, detail: path });
    }
  }

  unpin(): void {
    try {
      native().linkUnpin(this.handle);
      this.#pinnedAt = undefined;
    } catch (e) {
      throw wrapNativeError(e, { op: 'unpin link', program: this.program, detail: this.#pinnedAt });
    }
  }

  /** Detaches (unless pinned) and releases the handle; idempotent. */
  close(): void {
    if (this.#handle) native().linkClose(this.#handle);
    this.#handle = undefined;
  }
}
