/** The scheduling core's public surface (pure: numbers and `nowMs` in, decisions out). */
export * from './math.ts';
export * from './validate.ts';
export * from './observation-models.ts';
export * from './bocpd.ts';
export * from './change-detector.ts';
export * from './detect-series.ts';
