/// <reference types="@webgpu/types" />
/**
 * GPU buffers reused across calls: one buffer per role (logits block, readback, ...), grown when
 * a call needs more and kept otherwise, so a training loop allocates nothing after its first step.
 */
/** GPUBufferUsage's values, fixed by the WebGPU spec (the global may not exist before a device does). */
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;

export class BufferPool {
  private readonly buffers = new Map<string, GPUBuffer>();

  constructor(private readonly device: GPUDevice) {}

  /**
   * A buffer for `role` of at least `bytes` bytes (rounded up to 16) with exactly `usage`; with
   * `exact`, of exactly `bytes` bytes (a multiple of 4: a result handed out whole, whose size
   * its user takes for the data's, as TensorFlow.js's tensor from a GPU buffer does).
   */
  get(role: string, bytes: number, usage: GPUBufferUsageFlags, exact = false): GPUBuffer {
    const size = exact ? bytes : Math.max(16, Math.ceil(bytes / 16) * 16);
    const have = this.buffers.get(role);
    if (have !== undefined && (exact ? have.size === size : have.size >= size) && have.usage === usage) return have;
    have?.destroy();
    const buf = this.device.createBuffer({ label: `xent ${role}`, size, usage });
    this.buffers.set(role, buf);
    return buf;
  }

  /** Bytes held by the pool now. */
  get bytes(): number {
    let b = 0;
    for (const buf of this.buffers.values()) b += buf.size;
    return b;
  }

  destroy(): void {
    for (const buf of this.buffers.values()) buf.destroy();
    this.buffers.clear();
  }
}
