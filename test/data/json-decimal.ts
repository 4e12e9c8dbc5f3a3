/**
 * FHIR decimals may carry more precision than a JavaScript number holds (e.g. 21 significant digits),
 * and their trailing zeros are significant. A {@link Decimal} keeps the exact digits; {@link stringify}
 * writes them into JSON as a bare number literal.
 */
export class Decimal {
  constructor(readonly digits: string) {
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(digits))
      throw new Error(`not a JSON number: ${digits}`);
  }
  toJSON(): string {
    return `${marker}${this.digits}${marker}`;
  }
}

const marker = '\u0000decimal\u0000';
const markerPattern = /"\\u0000decimal\\u0000(-?[0-9.eE+-]+)\\u0000decimal\\u0000"/g;

/** JSON.stringify that writes every {@link Decimal} as its exact digits. */
export function stringify(value: unknown): string {
  return JSON.stringify(value).replace(markerPattern, '$1');
}
