/**
 * What the pipeline needs from a source's bulk export and a destination's bulk import, whatever the server.
 * Implementations: export-hapi.ts, export-bulkdata.ts, import-hapi.ts (REST batches: import-rest.ts).
 */
import type { Readable } from 'node:stream';

/** Half-open window [since, till) over meta.lastUpdated; `since` undefined = from the beginning. */
export interface ExportWindow {
  since?: string;
  till: string;
  /** Resource types to export; empty = every type the server exports. */
  types: string[];
}

export type ExportPoll =
  | { state: 'running'; retryAfterMs?: number; progress?: string }
  | { state: 'completed'; manifest: ExportManifest }
  | { state: 'failed'; reason: string; outcome?: unknown };

export interface ExportManifest {
  transactionTime: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count?: number }[];
  deleted: { type: string; url: string }[];
  error: { type: string; url: string }[];
}

export interface OpenFileOptions {
  /** The manifest's `requiresAccessToken`: send the source's auth headers with the download. Default true. */
  requiresAccessToken?: boolean;
  signal?: AbortSignal;
}

export interface ExportDialect {
  readonly name: 'hapi' | 'bulkdata' | 'azure';
  /** Starts an export job; returns the URL to poll. */
  kickOff(window: ExportWindow): Promise<{ statusUrl: string }>;
  poll(statusUrl: string): Promise<ExportPoll>;
  /**
   * Streams one manifest file (raw NDJSON bytes). Only URLs on the source's origin or a configured extra
   * origin are fetched (SSRF guard). The caller must consume or destroy the stream.
   */
  openFile(url: string, options?: OpenFileOptions): Promise<Readable>;
  /** Cancels the job (or deletes its files once done); an unknown job is not an error. */
  cancel(statusUrl: string): Promise<void>;
}

export interface ImportInput {
  type: string;
  url: string;
  /** The blob's ETag, for servers that check it (AHDS fails the job on a mismatch). */
  etag?: string;
}

export type ImportPoll =
  | { state: 'running'; retryAfterMs?: number; progress?: string }
  | { state: 'completed'; report: ImportReport }
  | { state: 'failed'; reason: string; report?: ImportReport };

export interface ImportFileReport {
  /** The source URL as the server reports it (may carry secrets: redact before logging). */
  url: string;
  /** Count per storage outcome code, e.g. `SUCCESSFUL_UPDATE_AS_CREATE: 12`. */
  outcomes: Record<string, number>;
  succeeded: number;
  failed: number;
  /** Error lines the server reported for this file (redacted). */
  errors: string[];
  /**
   * The server's error files for this input, to read with the dialect's `readErrors`. Full URLs, which may
   * carry secrets: never logged nor stored.
   */
  errorFiles?: string[];
}

/** One resource the destination refused, from an import error file. */
export interface ImportErrorLine {
  /** The line of the input file, as the server counts it. */
  line?: number;
  reason: string;
}

export interface ImportReport {
  files: ImportFileReport[];
  /** The report text as the server wrote it (secrets redacted). */
  raw: string;
}

export interface BulkImportDialect {
  readonly name: 'hapi' | 'ahds';
  submit(inputs: ImportInput[]): Promise<{ jobUrl: string }>;
  poll(jobUrl: string): Promise<ImportPoll>;
  /** Reads one of a report's `errorFiles` (servers that write refused resources to files: AHDS). */
  readErrors?(errorFileUrl: string): Promise<ImportErrorLine[]>;
}
