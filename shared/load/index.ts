/**
 * Load domain math shared by the hub and the UI: tariff time (quarter hours, billing months), live load
 * and 15-minute peaks, shed planning.
 */
export * from './peaks.js';
export * from './quarter-hours.js';
export * from './shed-plan.js';
