/** Display formats shared by the pages: money, durations, times, JSON. */
import type { Cost } from "weftflow";

export function money(cost: Cost | null | undefined): string {
  if (!cost) return "—";
  return `${(cost.amount / 100).toFixed(2)} ${cost.currency.toUpperCase()}`;
}

export function seconds(total: number | null | undefined): string {
  if (total === null || total === undefined) return "—";
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m ${total % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function millis(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return seconds(Math.round(ms / 1000));
}

export function when(date: Date | null | undefined): string {
  if (!date) return "—";
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function pretty(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) ?? "null";
}
