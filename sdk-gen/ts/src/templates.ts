/**
 * `weft.templates`: the catalogue of ready-made definitions (built in, or
 * saved by users of the tenant) and installing one as a new workflow.
 */
import type { Client } from "@connectrpc/connect";
import type { Template, TemplateService } from "./gen/weft/v1/template_service_pb.js";
import { typed } from "./errors.js";
import { toNativeWorkflow, type Workflow } from "./native-workflow.js";
import { required } from "./runs.js";
import { workflowStatuses, type WorkflowStatus } from "./statuses.js";
import { toWorkflow, type WorkflowDefinition } from "./workflows.js";

/** Filters and paging of {@link Templates.list}. */
export interface ListTemplatesOptions {
  category?: string;
  /** Only built-ins (true) or only the tenant's own (false). Unset: both. */
  isBuiltin?: boolean;
  tag?: string;
  limit?: number;
  offset?: number;
}

/** A template to save: a definition, or a version of a stored workflow. */
export interface TemplateSpec {
  name: string;
  description?: string;
  category?: string;
  tags?: string[];
  /** The definition to keep. Omit it to copy `fromWorkflow` instead. */
  definition?: WorkflowDefinition;
  /** Copy this workflow's definition (`wf_…`). */
  fromWorkflow?: string;
  /** With `fromWorkflow`: this version instead of the latest. */
  version?: number;
}

/** Options of {@link Templates.install}. */
export interface InstallOptions {
  /** Name of the new workflow (default: the template's). */
  name?: string;
  tags?: string[];
  status?: WorkflowStatus;
}

export class Templates {
  constructor(private readonly client: Client<typeof TemplateService>) {}

  /** Templates matching the filters (built-ins first, then by name) and how many match in all. */
  async list(options: ListTemplatesOptions = {}): Promise<{ templates: Template[]; total: number }> {
    const response = await typed(
      this.client.listTemplates({
        category: options.category ?? "",
        isBuiltin: options.isBuiltin,
        tag: options.tag ?? "",
        limit: options.limit ?? 0,
        offset: options.offset ?? 0,
      }),
    );
    return { templates: response.templates, total: response.total };
  }

  async get(templateId: string): Promise<Template> {
    return required((await typed(this.client.getTemplate({ templateId }))).template, "GetTemplate");
  }

  /** Creates a workflow (version 1) from the template; resolves to it. */
  async install(templateId: string, options: InstallOptions = {}): Promise<Workflow> {
    const response = await typed(
      this.client.installTemplate({ templateId, name: options.name ?? "", tags: options.tags ?? [], status: workflowStatuses.value(options.status) }),
    );
    return toNativeWorkflow(required(response.workflow, "InstallTemplate"));
  }

  /** Saves a template of the tenant. */
  async create(spec: TemplateSpec): Promise<Template> {
    const template = {
      name: spec.name,
      description: spec.description ?? "",
      category: spec.category ?? "",
      tags: spec.tags ?? [],
      ...(spec.definition !== undefined && { workflow: toWorkflow(spec.definition) }),
    };
    const response = await typed(
      this.client.createTemplate({ template, workflowId: spec.fromWorkflow ?? "", workflowVersion: spec.version ?? 0 }),
    );
    return required(response.template, "CreateTemplate");
  }

  /** Deletes a template of the tenant; built-ins cannot be deleted. */
  async delete(templateId: string): Promise<void> {
    await typed(this.client.deleteTemplate({ templateId }));
  }
}
