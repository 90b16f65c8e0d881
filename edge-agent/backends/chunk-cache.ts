/**
 * The edge's chunk calibration, kept between starts: measuring it takes ≈ 0.4 s of every start-up (up to ≈ 1 s where larger batches keep paying)
 * and leaves each worker's ONNX Runtime arena as large as the biggest batch it tried (≈ 30 MB
 * more resident memory per worker than the chosen chunk needs). The result depends only on the
 * model file, the runtime, the CPU and how many workers × threads share it, so it is measured
 * once per such combination and read back on later starts.
 *
 * One small JSON file per combination, written whole (to a temporary name, then renamed), so a
 * reader never sees half a file and two workers writing at once both leave a valid one. A file
 * that is missing, unreadable or not what this module writes is a miss: measure again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ChunkCalibration } from '../../shared/batch-inference.ts';

/** What decides a calibration's outcome. */
export interface CalibrationFacts {
  readonly modelPath: string;
  readonly runtimeVersion: string;
  readonly intraOpThreads: number;
  /** Workers calibrating at once on the same cores. */
  readonly workers: number;
}

/** A calibration as stored: its chunk (`whole`: no chunking) and the timings behind it. */
export interface CachedCalibration {
  readonly chunkSize: number | 'whole';
  readonly calibration: ChunkCalibration;
  /** ISO time it was measured. */
  readonly measuredAt: string;
}

/** The cache file for these facts (the model file's size and mtime stand for its content). */
export function calibrationFile(dir: string, f: CalibrationFacts): string {
  const st = statSync(f.modelPath);
  const cpu = cpus();
  const key = JSON.stringify([f.modelPath, st.size, st.mtimeMs, f.runtimeVersion, cpu[0]?.model ?? '', cpu.length, f.intraOpThreads, f.workers]);
  return join(dir, `chunk-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.json`);
}

export function readCalibration(file: string): CachedCalibration | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<CachedCalibration>;
    const chunkOk = v.chunkSize === 'whole' || (Number.isInteger(v.chunkSize) && (v.chunkSize as number) >= 1);
    if (!chunkOk || typeof v.calibration?.ms !== 'number' || typeof v.calibration.msPerImage !== 'object' || typeof v.measuredAt !== 'string') return undefined;
    return v as CachedCalibration;
  } catch {
    return undefined;
  }
}

/** Store a calibration; false when the directory is not writable (the agent runs on, measuring each start). */
export function writeCalibration(file: string, c: CachedCalibration): boolean {
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, JSON.stringify(c));
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}
