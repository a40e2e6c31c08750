/// <reference types="@webgpu/types" />
/**
 * GPU time of a call's compute passes, by timestamp queries (the device's `timestamp-query`
 * feature), for benchmarks: the kernels alone, without the uploads and readbacks around them.
 */

import { USAGE } from "./buffers.js";

const { QUERY_RESOLVE, COPY_SRC, COPY_DST, MAP_READ } = USAGE;

export class PassTimer {
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;
  private capacity = 0;
  private used = 0;
  /** Milliseconds of GPU time of the last call's passes, summed. */
  lastMs: number | null = null;

  constructor(private readonly device: GPUDevice) {}

  /** Start a call of at most `passes` compute passes. */
  begin(passes: number): void {
    this.used = 0;
    if (passes <= this.capacity) return;
    this.destroy();
    this.capacity = passes;
    this.querySet = this.device.createQuerySet({ type: "timestamp", count: 2 * passes });
    this.resolveBuf = this.device.createBuffer({ size: 16 * passes, usage: QUERY_RESOLVE | COPY_SRC });
    this.readBuf = this.device.createBuffer({ size: 16 * passes, usage: MAP_READ | COPY_DST });
  }

  /** The timestamp writes of the call's next pass. */
  next(): GPUComputePassTimestampWrites {
    if (this.querySet === null || this.used >= this.capacity) throw new Error("webgpu backend: PassTimer.next() beyond the passes begin() was given");
    const i = 2 * this.used++;
    return { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** Copy the call's timestamps out (on the call's last encoder). */
  resolve(enc: GPUCommandEncoder): void {
    if (this.querySet === null || this.resolveBuf === null || this.readBuf === null || this.used === 0) return;
    enc.resolveQuerySet(this.querySet, 0, 2 * this.used, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16 * this.used);
  }

  /** Read the resolved timestamps into `lastMs` (after the call's last submit). */
  async read(): Promise<void> {
    if (this.readBuf === null || this.used === 0) return;
    const bytes = 16 * this.used;
    await this.readBuf.mapAsync(MAP_READ, 0, bytes);
    const t = new BigUint64Array(this.readBuf.getMappedRange(0, bytes).slice(0));
    this.readBuf.unmap();
    let ns = 0n;
    for (let k = 0; k < t.length; k += 2) ns += t[k + 1]! - t[k]!;
    this.lastMs = Number(ns) / 1e6;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
    this.querySet = this.resolveBuf = this.readBuf = null;
    this.capacity = 0;
  }
}
