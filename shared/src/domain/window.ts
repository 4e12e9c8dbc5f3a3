/**
 * Window planning on meta.lastUpdated. Windows are half-open [since, till) in epoch milliseconds; the
 * planner never looks past `now − safetyLag`, so writes that commit late are not missed.
 */
import { DomainError } from './errors.ts';

export interface Window {
  /** Inclusive lower bound (epoch ms). */
  since: number;
  /** Exclusive upper bound (epoch ms). */
  till: number;
}

export interface WindowPolicy {
  chunkDurationMs: number;
  safetyLagMs: number;
  /** A window holding more than this many resources is split in halves. */
  chunkLimit: number;
  /** Windows are never split below this width; such a window is exported whatever its count. */
  minWindowMs: number;
}

/**
 * The policy for a configuration. Windows split down to 1 ms, lastUpdated's precision: resources that
 * share one millisecond (a transaction stamps all its entries alike) cannot be told apart by any window.
 */
export function windowPolicy(config: {
  chunkDuration: number;
  safetyLag: number;
  chunkLimit: number;
}): WindowPolicy {
  return {
    chunkDurationMs: config.chunkDuration,
    safetyLagMs: config.safetyLag,
    chunkLimit: config.chunkLimit,
    minWindowMs: 1,
  };
}

/** The next window after `watermark`, or undefined when nothing is old enough to plan yet. */
export function nextWindow(watermark: number, now: number, policy: WindowPolicy): Window | undefined {
  const horizon = now - policy.safetyLagMs;
  const till = Math.min(watermark + policy.chunkDurationMs, horizon);
  return till > watermark ? { since: watermark, till } : undefined;
}

export type WindowDecision =
  | { action: 'accept'; window: Window }
  | { action: 'split'; first: Window; second: Window };

/** Accept a counted window, or split it in halves while it holds more than chunkLimit (down to minWindowMs). */
export function decideWindow(window: Window, count: number, policy: WindowPolicy): WindowDecision {
  if (window.till <= window.since) {
    throw new DomainError(
      'INVALID_WINDOW',
      `window [${iso(window.since)}, ${iso(window.till)}) is empty or reversed`,
    );
  }
  const width = window.till - window.since;
  if (count <= policy.chunkLimit || width < 2 * policy.minWindowMs) return { action: 'accept', window };
  const middle = window.since + Math.floor(width / 2);
  return {
    action: 'split',
    first: { since: window.since, till: middle },
    second: { since: middle, till: window.till },
  };
}

export const iso = (ms: number): string => new Date(ms).toISOString();
