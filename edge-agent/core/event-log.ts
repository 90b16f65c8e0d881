/** The core's event log: what happened since the driver last drained it (bounded; the oldest go first). */
import type { CoreEvent } from './types.ts';

/** Events kept between two drains. */
export const MAX_EVENTS = 10_000;

export class EventLog {
  private events: CoreEvent[] = [];
  private replanCount = 0;
  private changepointCount = 0;

  emit(e: CoreEvent): void {
    if (e.type === 'replan') this.replanCount++;
    else if (e.type === 'changepoint') this.changepointCount++;
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  /** Plan updates and changepoints so far (drains do not reset them). */
  totals(): { replans: number; changepoints: number } {
    return { replans: this.replanCount, changepoints: this.changepointCount };
  }

  /** Events since the last drain, oldest first. */
  drain(): CoreEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}
