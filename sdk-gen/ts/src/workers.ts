/**
 * `weft.workers`: who is serving which agent, and which agents have tasks
 * nobody claims. The answer to "why is my run not moving?": an agent in
 * `agentQueues` with `served: false` has no worker. (Serving agents is the
 * {@link Worker} runtime's job, worker.ts; this is only the read side.)
 */
import type { Client } from "@connectrpc/connect";
import type { WorkerInfo as PbWorkerInfo } from "./gen/weft/v1/worker_pb.js";
import type { AgentQueue as PbAgentQueue, WorkerService } from "./gen/weft/v1/worker_service_pb.js";
import { typed } from "./errors.js";
import { date, withRaw } from "./native.js";

/** A registered worker. */
export interface WorkerInfo {
  id: string;
  name: string;
  agents: string[];
  concurrency: number;
  /** Tasks it holds now. */
  inFlight: number;
  lastPollAt: Date | null;
  registeredAt: Date | null;
  readonly raw: PbWorkerInfo;
}

/** One agent's unclaimed tasks, and whether anything serves it. */
export interface AgentQueue {
  agent: string;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Live workers registered for the agent. */
  liveWorkers: number;
  /** Whether a worker asked for its tasks lately; false with `queued` > 0: nothing serves them. */
  served: boolean;
  oldestQueuedAt: Date | null;
  readonly raw: PbAgentQueue;
}

/** Filters and paging of {@link Workers.list}. */
export interface ListWorkersOptions {
  /** Only workers serving this agent (and only its queue). */
  agent?: string;
  pageSize?: number;
  pageToken?: string;
}

/** One page of {@link Workers.list}. */
export interface WorkerList {
  workers: WorkerInfo[];
  /** Every agent with tasks waiting, most queued first (the same on every page). */
  agentQueues: AgentQueue[];
  /** For the next page; "" on the last. */
  nextPageToken: string;
}

function toWorkerInfo(worker: PbWorkerInfo): WorkerInfo {
  return withRaw(
    {
      id: worker.workerId,
      name: worker.name,
      agents: [...worker.agents],
      concurrency: worker.concurrency,
      inFlight: worker.inFlight,
      lastPollAt: date(worker.lastPollTime),
      registeredAt: date(worker.registerTime),
    },
    worker,
  );
}

function toAgentQueue(queue: PbAgentQueue): AgentQueue {
  return withRaw(
    { agent: queue.agent, queued: queue.queued, liveWorkers: queue.liveWorkers, served: queue.served, oldestQueuedAt: date(queue.oldestQueuedTime) },
    queue,
  );
}

export class Workers {
  constructor(private readonly client: Client<typeof WorkerService>) {}

  /** Registered workers (one page) and the agents with queued tasks. */
  async list(options: ListWorkersOptions = {}): Promise<WorkerList> {
    const response = await typed(
      this.client.listWorkers({ agent: options.agent ?? "", pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" }),
    );
    return {
      workers: response.workers.map(toWorkerInfo),
      agentQueues: response.agentQueues.map(toAgentQueue),
      nextPageToken: response.nextPageToken,
    };
  }
}
