/**
 * `weft.triggers`: deploying a workflow so that its webhook can start runs,
 * arming the webhook for one call, and calling it. The call itself
 * ({@link fireWebhook}) is plain HTTP, as a sender outside Weft makes it.
 */
import type { Client } from "@connectrpc/connect";
import type { DeployWorkflowResponse, TriggerService, TriggerStatus } from "./gen/weft/v1/trigger_service_pb.js";
import { typed } from "./errors.js";
import { required } from "./runs.js";

export class Triggers {
  constructor(private readonly client: Client<typeof TriggerService>) {}

  /**
   * Deploys a workflow. `webhookSecret` is set only when this call created or
   * rotated the secret: store it, it is not shown again.
   */
  async deploy(workflowId: string, options: { rotateSecret?: boolean } = {}): Promise<DeployWorkflowResponse> {
    return typed(this.client.deployWorkflow({ workflowId, rotateSecret: options.rotateSecret ?? false }));
  }

  async undeploy(workflowId: string): Promise<TriggerStatus> {
    return required((await typed(this.client.undeployWorkflow({ workflowId }))).trigger, "UndeployWorkflow");
  }

  /** Opens the window in which the webhook accepts one call (default 600 s). */
  async arm(workflowId: string, options: { windowSeconds?: number } = {}): Promise<{ armedUntil: Date; webhookUrl: string }> {
    const response = await typed(this.client.armWebhook({ workflowId, windowSeconds: options.windowSeconds ?? 0 }));
    const until = required(response.armedUntil, "ArmWebhook");
    return { armedUntil: new Date(Number(until.seconds) * 1000 + Math.floor(until.nanos / 1e6)), webhookUrl: response.webhookUrl };
  }

  async status(workflowId: string): Promise<TriggerStatus> {
    return required((await typed(this.client.getTriggerStatus({ workflowId }))).trigger, "GetTriggerStatus");
  }
}

/**
 * Calls an armed webhook as an outside sender would, signing the body with
 * HMAC-SHA256 over `<unix seconds>.<body>` (Web Crypto, so it works in
 * browsers and Node). Resolves to the id of the run it started; rejects with
 * the server's status and error body otherwise.
 */
export async function fireWebhook(webhookUrl: string, secret: string, body: unknown): Promise<string> {
  const text = JSON.stringify(body ?? null);
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${text}`)));
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  const response = await fetch(webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json", "x-weft-timestamp": timestamp, "x-weft-signature": `sha256=${hex}` },
    body: text,
  });
  const answer = (await response.json().catch(() => ({}))) as { runId?: string; run_id?: string; message?: string; error?: string };
  if (!response.ok) throw new Error(`webhook refused (${response.status}): ${answer.message ?? answer.error ?? "no body"}`);
  return answer.runId ?? answer.run_id ?? "";
}
