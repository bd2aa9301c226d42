/**
 * Which agent queues need attention: tasks waiting and nothing serving
 * them (no worker polled lately, or none registered). Those come first,
 * most queued first; the rest keep the server's order.
 */
import type { AgentQueue } from "weftflow";

export function unserved(queue: AgentQueue): boolean {
  return queue.queued > 0 && (!queue.served || queue.liveWorkers === 0);
}

export function orderQueues(queues: AgentQueue[]): AgentQueue[] {
  return [...queues].sort((a, b) => Number(unserved(b)) - Number(unserved(a)) || b.queued - a.queued);
}

/** A worker seen within this long counts as live (the server refreshes a polling worker's sight every 5 s). */
export const LIVE_WITHIN_MS = 60_000;

export function ago(date: Date | null, now: number): string {
  if (!date) return "never";
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m ago` : `${Math.floor(minutes / 60)}h ${minutes % 60}m ago`;
}
