// SPDX-License-Identifier: Apache-2.0
// Container attribution: the public API of src/container (see docs/containers.md).

export {
  type CgroupDriver,
  type CgroupRuntime,
  type ParsedCgroup,
  parseCgroupPath,
  type QosClass,
  runtimeName,
} from './cgroup.js';
export {
  CgroupIndex,
  type CgroupIndexOptions,
  findCgroup2Mount,
  type ProcCgroups,
  parseCgroup2Mount,
  parseProcCgroup,
  type RefreshResult,
  readProcCgroups,
  type V1Cgroup,
  v1Path,
} from './cgroups.js';
export { ContainerdApi, ContainerdSource, CriSource } from './containerd.js';
export { DockerSource, PodmanSource } from './engine.js';
export { type AncestorRef, inContainerInitTree } from './init-tree.js';
export {
  ContainerResolver,
  type ContainerResolverOptions,
  type ResolveResult,
  type ResolverStats,
  type RuntimeCounters,
} from './resolver.js';
export { type Metadata, type MetadataSource, RuntimeApiError, type RuntimeFailure } from './source.js';
