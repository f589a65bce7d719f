// SPDX-License-Identifier: Apache-2.0
// Metadata from containerd's gRPC API (containers, tasks, images) and from the CRI v1 API, which
// containerd's CRI plugin (and CRI-O) serve. Protos are Peregrine's own subsets in proto/.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ContainerInfo, PodInfo } from '../events/types.js';
import type { ParsedCgroup } from './cgroup.js';
import { type Metadata, type MetadataSource, RuntimeApiError } from './source.js';

/** The repository's proto/ directory, found upwards from this module (src/ or dist/src/). */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'proto');
    if (existsSync(join(p, 'cri', 'runtime.proto'))) return p;
    dir = dirname(dir);
  }
  throw new Error('container: proto/ directory not found above ' + fileURLToPath(import.meta.url));
}

type ServiceCtor = grpc.ServiceClientConstructor;
let loaded: Record<'containers' | 'tasks' | 'images' | 'cri', ServiceCtor> | undefined;

function services(): Record<'containers' | 'tasks' | 'images' | 'cri', ServiceCtor> {
  if (loaded !== undefined) return loaded;
  const dir = protoDir();
  const def = protoLoader.loadSync(
    ['containerd/containers.proto', 'containerd/tasks.proto', 'containerd/images.proto', 'cri/runtime.proto'],
    { includeDirs: [dir], keepCase: true, longs: Number, enums: String, defaults: true },
  );
  const g = grpc.loadPackageDefinition(def) as unknown as Record<string, never>;
  const at = (path: string): ServiceCtor => {
    let v: unknown = g;
    for (const p of path.split('.')) v = (v as Record<string, unknown>)[p];
    return v as ServiceCtor;
  };
  loaded = {
    containers: at('containerd.services.containers.v1.Containers'),
    tasks: at('containerd.services.tasks.v1.Tasks'),
    images: at('containerd.services.images.v1.Images'),
    cri: at('runtime.v1.RuntimeService'),
  };
  return loaded;
}

// Decoded shapes of the messages we read (keepCase, defaults on).
interface PbContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string } | null;
  spec: { type_url: string; value: Buffer } | null;
}
interface PbContainerStatus {
  status: {
    id: string;
    metadata: { name: string } | null;
    image: { image: string } | null;
    image_ref: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  } | null;
  info: Record<string, string>;
}
interface PbSandboxStatus {
  status: {
    id: string;
    metadata: { name: string; uid: string; namespace: string } | null;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  } | null;
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

/**
 * A gRPC connection to containerd's socket (or any CRI socket). Methods resolve to null on
 * NOT_FOUND and reject with RuntimeApiError otherwise; every call carries a deadline and is
 * cancelled when `signal` aborts.
 */
export class ContainerdApi {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly target: string;
  private criRuntime: Promise<string> | undefined;

  constructor(
    readonly socketPath = '/run/containerd/containerd.sock',
    readonly counterName = 'containerd',
  ) {
    this.target = `unix://${socketPath}`;
  }

  private client(kind: 'containers' | 'tasks' | 'images' | 'cri'): grpc.Client {
    let c = this.clients.get(kind);
    if (c === undefined) {
      // One channel per service; grpc-js shares the underlying subchannel for the same target.
      c = new (services()[kind])(this.target, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 16 << 20,
      });
      this.clients.set(kind, c);
    }
    return c;
  }

  private call<T>(
    kind: 'containers' | 'tasks' | 'images' | 'cri',
    method: string,
    req: unknown,
    namespace: string | undefined,
    signal: AbortSignal,
  ): Promise<T | null> {
    const md = new grpc.Metadata();
    if (namespace !== undefined) md.set('containerd-namespace', namespace);
    const client = this.client(kind) as unknown as Record<string, Unary>;
    const fn = client[method];
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new RuntimeApiError(this.counterName, 'timeout', `${method}: timed out`));
        return;
      }
      const onAbort = (): void => call.cancel();
      const call = fn.call(client, req, md, { deadline: Date.now() + 30_000 }, (err, res) => {
        signal.removeEventListener('abort', onAbort);
        if (err === null) resolve(res as T);
        else if (err.code === grpc.status.NOT_FOUND) resolve(null);
        else reject(this.wrap(method, err, signal));
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wrap(method: string, err: grpc.ServiceError, signal: AbortSignal): RuntimeApiError {
    if (signal.aborted || err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new RuntimeApiError(this.counterName, 'timeout', `${method}: timed out`, { cause: err });
    }
    if (err.code === grpc.status.UNAVAILABLE) {
      return new RuntimeApiError(this.counterName, 'unavailable', `${method}: ${err.details}`, {
        cause: err,
      });
    }
    return new RuntimeApiError(this.counterName, 'protocol', `${method}: ${err.details || err.message}`, {
      cause: err,
    });
  }

  getContainer(namespace: string, id: string, signal: AbortSignal): Promise<PbContainer | null> {
    return this.call<{ container: PbContainer }>('containers', 'Get', { id }, namespace, signal).then(
      (r) => r?.container ?? null,
    );
  }

  /** Host pid of the task's init process; undefined when there is no task (created, not started). */
  async getTaskPid(namespace: string, id: string, signal: AbortSignal): Promise<number | undefined> {
    const r = await this.call<{ process: { pid: number } | null }>(
      'tasks',
      'Get',
      { container_id: id },
      namespace,
      signal,
    );
    const pid = r?.process?.pid;
    return pid !== undefined && pid > 0 ? pid : undefined;
  }

  /** The digest of the image's target (manifest or index), as `ctr images ls` shows it. */
  async getImageDigest(namespace: string, name: string, signal: AbortSignal): Promise<string> {
    if (name === '') return '';
    const r = await this.call<{ image: { target: { digest: string } | null } | null }>(
      'images',
      'Get',
      { name },
      namespace,
      signal,
    );
    return r?.image?.target?.digest ?? '';
  }

  /** CRI Version's runtime_name ("containerd", "cri-o"), asked once per connection. */
  criRuntimeName(signal: AbortSignal): Promise<string> {
    if (this.criRuntime === undefined) {
      this.criRuntime = this.call<{ runtime_name: string }>(
        'cri',
        'Version',
        { version: 'v1' },
        undefined,
        signal,
      )
        .then((r) => r?.runtime_name || 'cri')
        .catch((err: unknown) => {
          this.criRuntime = undefined;
          throw err;
        });
    }
    return this.criRuntime;
  }

  criContainerStatus(id: string, signal: AbortSignal): Promise<PbContainerStatus | null> {
    return this.call<PbContainerStatus>(
      'cri',
      'ContainerStatus',
      { container_id: id, verbose: true },
      undefined,
      signal,
    );
  }

  criPodSandboxStatus(id: string, signal: AbortSignal): Promise<PbSandboxStatus | null> {
    return this.call<PbSandboxStatus>('cri', 'PodSandboxStatus', { pod_sandbox_id: id }, undefined, signal);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

// kubelet copies the pod's identity into the sandbox labels; PodInfo has them as fields, so
// PodInfo.labels keeps only the pod's own labels, as in the API object.
const KUBELET_POD_LABELS = ['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid'];

function podLabels(l: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...l };
  for (const k of KUBELET_POD_LABELS) delete out[k];
  return out;
}

function podFromSandbox(s: NonNullable<PbSandboxStatus['status']>): PodInfo {
  return {
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    uid: s.metadata?.uid ?? '',
    labels: podLabels(s.labels ?? {}),
  };
}

/** Annotations of the OCI spec that containerd stores with the container (JSON in an Any). */
function specAnnotations(c: PbContainer): Record<string, string> {
  if (c.spec === null || c.spec.value.length === 0) return {};
  try {
    const spec = JSON.parse(c.spec.value.toString('utf8')) as { annotations?: Record<string, string> };
    return spec.annotations ?? {};
  } catch {
    return {};
  }
}

/**
 * The pod of a container in containerd's k8s.io namespace when CRI does not list it: the CRI
 * plugin's OCI annotations, else the kubelet labels the container carries.
 */
function podFromContainerd(c: PbContainer, podUid: string | undefined): PodInfo | undefined {
  const a = specAnnotations(c);
  const l = c.labels ?? {};
  const name = a['io.kubernetes.cri.sandbox-name'] ?? l['io.kubernetes.pod.name'];
  const namespace = a['io.kubernetes.cri.sandbox-namespace'] ?? l['io.kubernetes.pod.namespace'];
  const uid = a['io.kubernetes.cri.sandbox-uid'] ?? l['io.kubernetes.pod.uid'] ?? podUid;
  if (name === undefined && namespace === undefined && uid === undefined) return undefined;
  return { name: name ?? '', namespace: namespace ?? '', uid: uid ?? '', labels: {} };
}

function containerdInfo(c: PbContainer, imageId: string): ContainerInfo {
  const labels = c.labels ?? {};
  return {
    id: c.id,
    // containerd has no name apart from the id; nerdctl and CRI keep one in a label.
    name: labels['nerdctl/name'] ?? labels['io.kubernetes.container.name'] ?? c.id,
    image: c.image,
    image_id: imageId,
    runtime: 'containerd',
    labels,
  };
}

/** Plain containerd containers (`/<ns>/<id>`): Containers.Get, Tasks.Get, Images.Get. */
export class ContainerdSource implements MetadataSource {
  readonly name = 'containerd';
  constructor(readonly api: ContainerdApi) {}

  async lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    const ns = key.namespace ?? 'default';
    const c = await this.api.getContainer(ns, key.containerId, signal);
    if (c === null) return null;
    const [pid, digest] = await Promise.all([
      this.api.getTaskPid(ns, key.containerId, signal),
      this.api.getImageDigest(ns, c.image, signal).catch(() => ''),
    ]);
    return {
      container: containerdInfo(c, digest),
      pod: ns === 'k8s.io' ? podFromContainerd(c, key.podUid) : undefined,
      initPid: pid,
    };
  }

  close(): void {
    this.api.close();
  }
}

/**
 * Kubernetes containers through CRI: ContainerStatus(verbose) for name, image, labels, init pid
 * and sandbox id, then PodSandboxStatus for the pod. A pause (sandbox) cgroup is answered from
 * PodSandboxStatus alone. When the socket is containerd's (`containerd` set), containers that
 * CRI does not list are looked up in containerd's k8s.io namespace.
 */
export class CriSource implements MetadataSource {
  constructor(
    readonly api: ContainerdApi,
    readonly name = 'cri',
    private readonly containerd?: ContainerdApi,
  ) {}

  async lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    const id = key.containerId;
    const [runtime, st] = await Promise.all([
      this.api.criRuntimeName(signal),
      this.api.criContainerStatus(id, signal),
    ]);
    if (st?.status != null) {
      const s = st.status;
      let info: { pid?: number; sandboxID?: string } = {};
      try {
        info = JSON.parse(st.info?.info ?? '{}') as typeof info;
      } catch {
        // non-JSON verbose info: no pid, no sandbox id
      }
      const sb = info.sandboxID ? await this.api.criPodSandboxStatus(info.sandboxID, signal) : null;
      return {
        container: {
          id: s.id || id,
          name: s.metadata?.name ?? '',
          image: s.image?.image ?? '',
          image_id: s.image_ref ?? '',
          runtime,
          labels: s.labels ?? {},
        },
        pod: sb?.status != null ? podFromSandbox(sb.status) : undefined,
        initPid: typeof info.pid === 'number' && info.pid > 0 ? info.pid : undefined,
      };
    }
    // The pause container's cgroup carries the sandbox id.
    const sb = await this.api.criPodSandboxStatus(id, signal);
    if (sb?.status != null) {
      const c = this.containerd
        ? await this.containerd.getContainer('k8s.io', id, signal).catch(() => null)
        : null;
      const pid = this.containerd
        ? await this.containerd.getTaskPid('k8s.io', id, signal).catch(() => undefined)
        : undefined;
      return {
        container: {
          id,
          // kubelet's name for the sandbox container (dockershim used it; crictl shows pods instead)
          name: 'POD',
          image: c?.image ?? '',
          image_id: '',
          runtime,
          labels: sb.status.labels ?? {},
        },
        pod: podFromSandbox(sb.status),
        initPid: pid,
      };
    }
    if (this.containerd === undefined) return null;
    const c = await this.containerd.getContainer('k8s.io', id, signal);
    if (c === null) return null;
    const pid = await this.containerd.getTaskPid('k8s.io', id, signal).catch(() => undefined);
    return { container: containerdInfo(c, ''), pod: podFromContainerd(c, key.podUid), initPid: pid };
  }

  close(): void {
    this.api.close();
  }
}
