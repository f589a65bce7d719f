// SPDX-License-Identifier: Apache-2.0
// Event times (ISO-8601 with nanoseconds) as the integer nanoseconds Loki and OTLP carry.

/** ISO-8601 with up to nanoseconds → Unix nanoseconds; the current time when unparsable. */
export function unixNanos(iso: string): bigint {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  const ms = Date.parse(m ? `${m[1]}${m[3]}` : iso);
  if (Number.isNaN(ms)) return BigInt(Date.now()) * 1000000n;
  const frac = m?.[2] ? BigInt(m[2].padEnd(9, '0')) : 0n;
  return BigInt(ms) * 1000000n + frac;
}
