// SPDX-License-Identifier: Apache-2.0
// File records (bpf/file.bpf.c, struct pg_file_event) turned into the event's
// kind, `file` part and return code: kinds by name, access bits as words.
import type { EventKind, FileInfo } from '../../events/types.js';
import { PgAccess, type PgFileEvent, PgFileFlag, PgKind } from '../../generated/records.js';

/** enum pg_kind → event kind, for the kinds the file sensor reports. */
export const FILE_KINDS: ReadonlyMap<number, EventKind> = new Map<number, EventKind>([
  [PgKind.PG_KIND_FILE_OPEN, 'file.open'],
  [PgKind.PG_KIND_FILE_UNLINK, 'file.unlink'],
  [PgKind.PG_KIND_FILE_RENAME, 'file.rename'],
  [PgKind.PG_KIND_FILE_LINK, 'file.link'],
  [PgKind.PG_KIND_FILE_SYMLINK, 'file.symlink'],
  [PgKind.PG_KIND_FILE_CHMOD, 'file.chmod'],
  [PgKind.PG_KIND_FILE_CHOWN, 'file.chown'],
  [PgKind.PG_KIND_FILE_TRUNCATE, 'file.truncate'],
  [PgKind.PG_KIND_FILE_MOUNT, 'file.mount'],
]);

const O_CREAT = 0o100;
const O_APPEND = 0o2000;
const O_TMPFILE = 0o20000000;
/** chown(2)'s "leave unchanged" id. */
const UNCHANGED = 0xffffffff;

/** enum pg_access bits (and O_APPEND from the flags) as the event's access words. */
export function accessNames(access: number, openFlags: number): NonNullable<FileInfo['access']> {
  const out: NonNullable<FileInfo['access']> = [];
  if (access & PgAccess.PG_ACCESS_READ) out.push('read');
  if (access & PgAccess.PG_ACCESS_WRITE) out.push('write');
  if (openFlags & O_APPEND && access & PgAccess.PG_ACCESS_WRITE) out.push('append');
  if (access & PgAccess.PG_ACCESS_CREATE) out.push('create');
  if (access & PgAccess.PG_ACCESS_TRUNCATE) out.push('truncate');
  return out;
}

export interface FileEventParts {
  kind: EventKind;
  file: FileInfo;
  /** The syscall's return value, when the hook saw it (opens). */
  return_code?: number;
}

/** The event parts of one decoded record; undefined for a kind this sensor does not know. */
export function fileEventParts(rec: PgFileEvent): FileEventParts | undefined {
  const kind = FILE_KINDS.get(rec.kind);
  if (kind === undefined) return undefined;
  const file: FileInfo = {
    path: rec.path,
    path_source: rec.flags & PgFileFlag.PG_FILE_PATH_USER ? 'user' : 'kernel',
  };
  switch (kind) {
    case 'file.open':
      file.access = accessNames(rec.access, rec.sysFlags);
      file.flags = rec.sysFlags;
      if (rec.sysFlags & (O_CREAT | O_TMPFILE)) file.mode = rec.mode & 0o7777;
      break;
    case 'file.rename':
    case 'file.link':
    case 'file.symlink':
      file.new_path = rec.newPath;
      if (rec.sysFlags !== 0) file.flags = rec.sysFlags;
      break;
    case 'file.chmod':
      file.mode = rec.mode & 0o7777;
      if (rec.sysFlags !== 0) file.flags = rec.sysFlags;
      break;
    case 'file.chown':
      if (rec.uid !== UNCHANGED) file.uid = rec.uid;
      if (rec.gid !== UNCHANGED) file.gid = rec.gid;
      if (rec.sysFlags !== 0) file.flags = rec.sysFlags;
      break;
    case 'file.mount':
      file.source = rec.source;
      file.fstype = rec.fstype;
      file.flags = rec.sysFlags;
      break;
    default:
      if (rec.sysFlags !== 0) file.flags = rec.sysFlags;
  }
  const parts: FileEventParts = { kind, file };
  if (rec.flags & PgFileFlag.PG_FILE_RET) parts.return_code = rec.ret;
  return parts;
}
