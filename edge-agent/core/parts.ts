/**
 * The parts of the scheduling core's state, built once by the facade and handed to each policy
 * module (admission, probes, re-planning): every module reads and updates the same parts, and
 * none holds a reference to the facade.
 */
import type { ArrivalRateEstimator } from './arrival-rate.ts';
import type { DeadlineClasses } from './deadline-classes.ts';
import type { EdfQueue } from './edf-queue.ts';
import type { EventLog } from './event-log.ts';
import type { LinkEstimator } from './link-estimator.ts';
import type { ResolvedOptions } from './options.ts';
import type { TargetBook } from './target-book.ts';

export interface CoreParts {
  readonly o: ResolvedOptions;
  readonly book: TargetBook;
  readonly queue: EdfQueue;
  readonly rate: ArrivalRateEstimator;
  readonly link: LinkEstimator;
  readonly classes: DeadlineClasses;
  readonly log: EventLog;
  /** Running mean of admitted requests' bytes (starts at the profile's item size). */
  readonly item: { bytes: number };
}
