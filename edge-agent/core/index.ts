/** The scheduling core's public surface (pure: numbers and `nowMs` in, decisions out). */
export * from './math.ts';
export * from './validate.ts';
export * from './observation-models.ts';
export * from './bocpd.ts';
export * from './change-detector.ts';
export * from './detect-series.ts';
export * from './types.ts';
export * from './predictors.ts';
export * from './linear-fit.ts';
export * from './latency-model.ts';
export * from './link-estimator.ts';
export * from './arrival-rate.ts';
export * from './warm-pool.ts';
export * from './deadline-classes.ts';
export * from './planner.ts';
export * from './decide.ts';
export * from './scheduler.ts';
