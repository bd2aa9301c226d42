/**
 * Reading generated messages the SDK does not wrap (schedules, trigger
 * status, estimates): timestamps as `Date`s and money as the `Cost` the
 * shared formats take. Shared by the pages that read them.
 */
import type { Cost } from "weftflow";

/** A protobuf `Timestamp` (or nothing) as a `Date` (or null). */
export function pbDate(stamp: { seconds: bigint; nanos: number } | undefined): Date | null {
  if (!stamp) return null;
  return new Date(Number(stamp.seconds) * 1000 + Math.floor(stamp.nanos / 1e6));
}

/** A `Money` message as a {@link Cost}; null when unset. */
export function pbMoney(money: { amount: bigint; currency: string } | undefined): Cost | null {
  return money ? { amount: Number(money.amount), currency: money.currency || "usd" } : null;
}

